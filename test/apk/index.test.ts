import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { splitGzipMembers } from '../../src/apk/gzip-members.js';
import { readApkIndex, ApkIndexParser } from '../../src/apk/index-file.js';
import { loadKeys } from '../../src/apk/keys.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const REAL_INDEX = join(SHARED_ALPINE, 'real/v3.17/main/aarch64/APKINDEX.tar.gz');
const REAL_KEYS = join(SHARED_ALPINE, 'real/keys');
const TEST_INDEX = join(SHARED_ALPINE, 'repo/v3.20/main/x86_64/APKINDEX.tar.gz');
const TEST_KEY = join(SHARED_ALPINE, 'keys/eib-test-0001.rsa.pub');
const skip = !existsSync(REAL_INDEX) && 'no shared Alpine data';

async function* chunks(buf: Buffer, size = 4096): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** The raw bytes of each gzip member of `file`. */
async function members(buf: Buffer): Promise<Buffer[]> {
  const raw: Buffer[][] = [];
  await splitGzipMembers(chunks(buf), { raw: (i, c) => (raw[i] ??= []).push(Buffer.from(c)), data: () => undefined }, 'test');
  return raw.map((r) => Buffer.concat(r));
}

/** apk's signature tar has no end-of-archive blocks: drop trailing zero blocks after gunzip. */
function withoutEof(tar: Buffer): Buffer {
  let end = tar.length;
  while (end >= 512 && tar.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
  return tar.subarray(0, end);
}

test('the real Alpine 3.17 index: signature checked with Alpine keys, all 5004 entries parsed', { skip }, async () => {
  const keys = loadKeys([REAL_KEYS]);
  const index = await readApkIndex(createReadStream(REAL_INDEX), { what: REAL_INDEX, repository: 'https://dl-cdn.alpinelinux.org/alpine/v3.17/main', keys });
  assert.equal(index.packages.length, 5004);
  assert.equal(index.signedBy, 'alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub');
  assert.match(index.description, /^v3\.17/);
  const busybox = index.packages.find((p) => p.name === 'busybox')!;
  assert.equal(busybox.version, '1.35.0-r29');
  assert.equal(busybox.arch, 'aarch64');
  assert.match(busybox.checksum, /^Q1[A-Za-z0-9+/]{27}=$/);
  assert.ok(busybox.depends.includes('so:libc.musl-aarch64.so.1'));
  assert.ok(busybox.provides.some((p) => p.startsWith('cmd:busybox=')));
  assert.equal(busybox.origin, 'busybox');
  assert.equal(busybox.repository, 'https://dl-cdn.alpinelinux.org/alpine/v3.17/main');
  assert.ok(busybox.buildTime! > 1_600_000_000);
  assert.ok(busybox.size > 0 && busybox.installedSize > busybox.size);
  const withPriority = index.packages.filter((p) => p.providerPriority !== undefined);
  assert.ok(withPriority.length > 10);
  assert.ok(index.packages.some((p) => p.installIf.length > 0));
});

test('the test repository index verifies with the test key and records every field', { skip }, async () => {
  const index = await readApkIndex(createReadStream(TEST_INDEX), { what: TEST_INDEX, repository: '/repo', keys: loadKeys([TEST_KEY]) });
  assert.equal(index.packages.length, 14);
  assert.equal(index.signedBy, 'eib-test-0001.rsa.pub');
  const binsh = index.packages.find((p) => p.name === 'busybox-binsh')!;
  assert.deepEqual(binsh.depends, ['busybox=1.36.1-r29']);
  assert.deepEqual(binsh.provides, ['/bin/sh', 'cmd:sh=1.36.1-r29']);
  assert.equal(binsh.providerPriority, 100);
});

test('a changed signature byte, a changed signed byte, a wrong key or no signature: refused', { skip }, async () => {
  const keys = loadKeys([TEST_KEY]);
  const original = readFileSync(TEST_INDEX);
  const [sig, data] = await members(original);
  const read = (buf: Buffer, extra: { allowUntrusted?: boolean; onWarning?: (m: string) => void; keys?: typeof keys } = {}) =>
    readApkIndex(chunks(buf, 100), { what: 'test/APKINDEX.tar.gz', repository: '/r', keys: extra.keys ?? keys, ...extra });

  // Sanity: the split members put back together are accepted.
  assert.equal((await read(Buffer.concat([sig!, data!]))).packages.length, 14);

  // One bit of the RSA signature flipped (the gzip stays valid).
  const sigTar = withoutEof(gunzipSync(sig!));
  sigTar[600] = sigTar[600]! ^ 1;
  await assert.rejects(read(Buffer.concat([gzipSync(sigTar), data!])), {
    code: 'ESIGNATURE',
    message: /test\/APKINDEX\.tar\.gz: signature by eib-test-0001\.rsa\.pub does not match/,
  });

  // One character of the index text changed, recompressed: valid gzip, wrong digest.
  const dataTar = gunzipSync(data!);
  const at = dataTar.indexOf('busybox ash /bin/sh');
  dataTar[at] = 'B'.charCodeAt(0);
  await assert.rejects(read(Buffer.concat([sig!, gzipSync(dataTar)])), { code: 'ESIGNATURE', message: /does not match the content/ });

  // Untrusted key: Alpine's keys only.
  await assert.rejects(read(original, { keys: loadKeys([REAL_KEYS]) }), { code: 'ESIGNATURE', message: /signed by eib-test-0001\.rsa\.pub, which is not among the trusted keys/ });

  // Unsigned.
  await assert.rejects(read(data!), { code: 'ESIGNATURE', message: /not signed/ });

  // allowUntrusted accepts unsigned and untrusted loudly, never altered.
  const warnings: string[] = [];
  const unsigned = await read(data!, { allowUntrusted: true, onWarning: (m) => warnings.push(m) });
  assert.equal(unsigned.packages.length, 14);
  assert.equal(unsigned.signedBy, undefined);
  const untrusted = await read(original, { keys: new Map(), allowUntrusted: true, onWarning: (m) => warnings.push(m) });
  assert.equal(untrusted.packages.length, 14);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /WARNING: using test\/APKINDEX\.tar\.gz although not signed/);
  await assert.rejects(read(Buffer.concat([sig!, gzipSync(dataTar)]), { allowUntrusted: true }), { code: 'ESIGNATURE' });
});

test('a corrupt or truncated gzip stream is an error, not a partial index', { skip }, async () => {
  const original = readFileSync(TEST_INDEX);
  await assert.rejects(
    readApkIndex(chunks(original.subarray(0, original.length - 5)), { what: 'cut', repository: '/r', keys: loadKeys([TEST_KEY]) }),
    { code: 'EGZIP', message: /cut: truncated/ },
  );
});

test('the APKINDEX text parser: records, multi-chunk input, malformed lines', () => {
  const p = new ApkIndexParser('x', '/r');
  const text = 'C:Q1abc=\nP:foo\nV:1.0-r0\nA:noarch\nS:10\nI:20\nT:foo — ünïcode\nD:bar>=1 so:libc.musl-x86_64.so.1\np:cmd:foo=1.0-r0\ni:bar baz\nr:old-foo\nk:5\n\nP:bar\nV:2\n';
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += 3) p.write(bytes.subarray(i, i + 3));
  const pkgs = p.end();
  assert.equal(pkgs.length, 2);
  assert.equal(pkgs[0]!.description, 'foo — ünïcode');
  assert.deepEqual(pkgs[0]!.depends, ['bar>=1', 'so:libc.musl-x86_64.so.1']);
  assert.deepEqual(pkgs[0]!.installIf, ['bar', 'baz']);
  assert.deepEqual(pkgs[0]!.replaces, ['old-foo']);
  assert.equal(pkgs[0]!.providerPriority, 5);
  assert.equal(pkgs[1]!.name, 'bar');
  const bad = new ApkIndexParser('idx', '/r');
  assert.throws(() => bad.write('P:foo\nnot a field\n'), { code: 'EINDEX', message: /idx: APKINDEX line 2/ });
  const noVersion = new ApkIndexParser('idx', '/r');
  assert.throws(() => noVersion.write('P:foo\n\n'), { code: 'EINDEX', message: /no V:/ });
});
