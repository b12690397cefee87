import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobStore } from '../../src/store/blob-store.js';
import type { Digest } from '../../src/oci/types.js';

const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const store = (): BlobStore => new BlobStore(mkdtempSync(join(tmpdir(), 'eib-store-')));
/** A stream of n bytes in small chunks, so checks happen while data flows. */
function chunks(data: Buffer, size = 4096): Readable {
  return Readable.from((function* () {
    for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
  })());
}
const data = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 251));

test('put stores a blob under its digest; has, size, open, list and delete agree', async () => {
  const s = store();
  const ref = await s.put(chunks(data));
  assert.deepEqual(ref, { digest: sha(data), size: data.length });
  assert.ok(await s.has(ref.digest));
  assert.equal(await s.size(ref.digest), data.length);
  assert.ok((await s.readBytes(ref.digest)).equals(data));
  assert.deepEqual(await s.list(), [ref.digest]);
  assert.deepEqual(readdirSync(s.tmpDir), []);
  await s.delete(ref.digest);
  assert.equal(await s.has(ref.digest), false);
  await assert.rejects(s.size(ref.digest), { code: 'EBLOBMISSING' });
  await assert.rejects(s.readBytes(ref.digest), { code: 'EBLOBMISSING' });
  rmSync(s.root, { recursive: true });
});

test('corrupt, short and long input fail with EINTEGRITY / EBADSIZE and leave nothing behind', async () => {
  const s = store();
  const expected = { digest: sha(data), size: data.length };
  const corrupt = Buffer.from(data);
  corrupt[1000] = (corrupt[1000] ?? 0) ^ 0xff;
  await assert.rejects(s.put(chunks(corrupt), expected), { code: 'EINTEGRITY' });
  await assert.rejects(s.put(chunks(data.subarray(0, 150_000)), expected), { code: 'EBADSIZE' });
  await assert.rejects(s.put(chunks(Buffer.concat([data, Buffer.from('x')])), expected), { code: 'EBADSIZE' });
  const failing = new Readable({ read() { this.destroy(new Error('connection reset')); } });
  await assert.rejects(s.put(failing, expected), /connection reset/);
  assert.deepEqual(await s.list(), []);
  assert.deepEqual(readdirSync(s.tmpDir), []);
  // The right content with the right expectation is accepted.
  assert.deepEqual(await s.put(chunks(data), expected), expected);
  rmSync(s.root, { recursive: true });
});

test('concurrent writers of one blob and concurrent readers are safe', async () => {
  const s = store();
  const writers = Array.from({ length: 8 }, () => s.put(chunks(data, 1000)));
  const first = await s.put(chunks(data));
  const readers = Array.from({ length: 8 }, () => s.readBytes(first.digest));
  const refs = await Promise.all(writers);
  assert.ok(refs.every((r) => r.digest === first.digest));
  for (const b of await Promise.all(readers)) assert.ok(b.equals(data));
  assert.deepEqual(await s.list(), [first.digest]);
  assert.deepEqual(readdirSync(s.tmpDir), []);
  rmSync(s.root, { recursive: true });
});

test('a blob corrupted on disk fails open() with ECACHEDAMAGED, naming the file, and is reported by verify()', async () => {
  const s = store();
  const good = await s.putBytes(Buffer.from('good'));
  const bad = await s.putBytes(Buffer.from('soon bad'));
  writeFileSync(s.path(bad.digest), 'tampered');
  await assert.rejects(s.readBytes(bad.digest), { code: 'ECACHEDAMAGED', message: new RegExp(`${s.path(bad.digest)} hashes to .*eib cache verify`) });
  assert.equal((await s.readBytes(good.digest)).toString(), 'good');
  const report = await s.verify();
  assert.deepEqual(report.map((r) => [r.digest, r.ok]).sort(), [[good.digest, true], [bad.digest, false]].sort());
  rmSync(s.root, { recursive: true });
});

test('putJson is canonical: key order does not change the digest', async () => {
  const s = store();
  const a = await s.putJson({ b: 1, a: { y: [1, { d: 2, c: 3 }], x: null } }, 'application/json');
  const b = await s.putJson({ a: { x: null, y: [1, { c: 3, d: 2 }] }, b: 1 }, 'application/json');
  assert.deepEqual(a, b);
  assert.equal((await s.readBytes(a.digest)).toString(), '{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}');
  rmSync(s.root, { recursive: true });
});
