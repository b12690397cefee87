/**
 * unpackLayerToUpper on layers built in code: hostile paths (the way
 * node-tar's advisories are tested: the malicious archive is written here,
 * and nothing may appear outside the target), overlay xattrs a layer must
 * not set, tar replacement rules, device nodes made in batches, and the
 * diff_id. These run as root outside any namespace, where a missed check
 * would do real damage to the temp folder around the target.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { EibError } from '../../src/errors.js';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarHeader } from '../../src/layer/tar-header.js';
import { unpackLayerToUpper } from '../../src/layer/unpack-upper.js';

type Entry = Partial<TarHeader> & { path: string; body?: string };

function tar(entries: Entry[], trailing = 0): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h: TarHeader = { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map(), ...e, size: e.type === undefined || e.type === 'file' ? body.length : 0 };
    parts.push(encodeHeader(h));
    if (h.size > 0) parts.push(body, paddingFor(body.length));
  }
  parts.push(END_OF_ARCHIVE, Buffer.alloc(trailing));
  return Buffer.concat(parts);
}

/** A target folder inside a parent, so escapes can be looked for in the parent. */
function target(): { parent: string; dir: string } {
  const parent = mkdtempSync(join(tmpdir(), 'eib-unpack-'));
  return { parent, dir: join(parent, 'upper') };
}

async function unpack(raw: Buffer, dir: string): Promise<Awaited<ReturnType<typeof unpackLayerToUpper>>> {
  return unpackLayerToUpper(Readable.from([gzipSync(raw)]), dir, { name: 'sha256:test-layer' });
}

async function refused(entries: Entry[], pattern: RegExp): Promise<{ parent: string; dir: string }> {
  const t = target();
  await assert.rejects(unpack(tar(entries), t.dir), (e: unknown) => {
    assert.ok(e instanceof EibError, String(e));
    assert.equal(e.code, 'ELAYERPATH');
    assert.match(e.message, /layer sha256:test-layer/);
    assert.match(e.message, pattern);
    return true;
  });
  return t;
}

test('CVE-2018-20834-style: entries climbing out with .. or absolute paths are refused', async () => {
  const a = await refused([{ path: '../escaped', body: 'x' }], /"\.\.\/escaped"/);
  assert.equal(existsSync(join(a.parent, 'escaped')), false);
  await refused([{ path: 'ok/../../escaped', body: 'x' }], /escaped/);
  const b = await refused([{ path: `${tmpdir()}/eib-unpack-absolute`, body: 'x' }], /eib-unpack-absolute/);
  assert.equal(existsSync(join(tmpdir(), 'eib-unpack-absolute')), false);
  void b;
});

test('CVE-2021-32803-style: a path through a symlink of the layer is refused, even when the symlink points inside', async () => {
  const t = await refused(
    [
      { path: 'link', type: 'symlink', linkname: '..' },
      { path: 'link/pwned', body: 'x' },
    ],
    /through the symlink "link"/,
  );
  assert.equal(existsSync(join(t.parent, 'pwned')), false);
  await refused(
    [
      { path: 'etc', type: 'dir', mode: 0o755 },
      { path: 'bin', type: 'symlink', linkname: 'etc' },
      { path: 'bin/sh', body: 'x' },
    ],
    /through the symlink "bin"/,
  );
});

test('hardlinks out of the layer, or through a symlink, are refused', async () => {
  const t = await refused([{ path: 'h', type: 'link', linkname: '../outside' }], /outside/);
  writeFileSync(join(t.parent, 'outside'), 'secret');
  await refused([{ path: 'h', type: 'link', linkname: '../outside' }], /outside/);
  await refused(
    [
      { path: 's', type: 'symlink', linkname: '/etc' },
      { path: 'h', type: 'link', linkname: 's/hostname' },
    ],
    /through the symlink "s"/,
  );
});

test('a whiteout of "." or ".." is refused instead of removing the target or its parent', async () => {
  const t = target();
  mkdirSync(t.dir);
  writeFileSync(join(t.parent, 'sibling'), 'must survive');
  for (const path of ['.wh...', 'a/.wh..']) {
    await assert.rejects(unpack(tar([{ path: 'a', type: 'dir' }, { path }]), t.dir), { code: 'ELAYERPATH' });
  }
  assert.equal(readFileSync(join(t.parent, 'sibling'), 'utf8'), 'must survive');
});

test('whiteouts, opaque markers, devices and xattrs become upperdir form; overlay xattrs from the layer are not set', async () => {
  const t = target();
  const whiteouts = Array.from({ length: 2100 }, (_, i) => ({ path: `many/.wh.gone-${String(i).padStart(4, '0')}`, mtime: 1_500_000_000 }));
  const raw = tar(
    [
      { path: 'etc', type: 'dir', mode: 0o755 },
      { path: 'etc/.wh..wh..opq' },
      { path: 'etc/.wh.old.conf', mtime: 1_400_000_000 },
      {
        path: 'etc/hostname',
        body: 'device\n',
        uid: 7,
        gid: 42,
        mode: 0o640,
        xattrs: new Map([
          ['user.comment', Buffer.from('kept')],
          ['user.overlay.redirect', Buffer.from('/etc/shadow')],
          ['trusted.overlay.opaque', Buffer.from('y')],
          ['user.overlay.metacopy', Buffer.alloc(0)],
        ]),
      },
      { path: 'dev', type: 'dir', mode: 0o755 },
      { path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
      { path: 'dev/initctl', type: 'fifo', mode: 0o600 },
      { path: 'many', type: 'dir', mode: 0o700 },
      ...whiteouts,
      { path: 'bin/busybox', body: 'bb', mode: 0o4755 },
      { path: 'bin/su', type: 'link', linkname: 'bin/busybox' },
    ],
    4096,
  );
  const result = await unpack(raw, t.dir);
  assert.equal(result.diffId, `sha256:${createHash('sha256').update(raw).digest('hex')}`, 'the diff_id covers the padding after the end blocks');
  assert.equal(result.entries, 10 + whiteouts.length);

  const opaque = execFileSync('getfattr', ['-d', '-m', '-', '-h', join(t.dir, 'etc')], { encoding: 'utf8' });
  assert.match(opaque, /user\.overlay\.opaque="y"/);
  const wh = lstatSync(join(t.dir, 'etc/old.conf'));
  assert.ok(wh.isCharacterDevice());
  assert.deepEqual([wh.rdev, wh.mode & 0o7777, wh.mtimeMs / 1000], [0, 0, 1_400_000_000]);
  assert.equal(readdirSync(join(t.dir, 'many')).length, 2100);
  assert.ok(readdirSync(join(t.dir, 'many')).every((n) => lstatSync(join(t.dir, 'many', n)).isCharacterDevice()));
  assert.equal(lstatSync(join(t.dir, 'many')).mtimeMs / 1000, 1_600_000_000, 'directory mtimes are set after their children are made');
  assert.equal(readdirSync(t.dir).filter((n) => n.startsWith('.eib-nodes')).length, 0, 'no scratch folder left');

  const host = lstatSync(join(t.dir, 'etc/hostname'));
  assert.deepEqual([host.uid, host.gid, host.mode & 0o7777], [7, 42, 0o640]);
  const attrs = execFileSync('getfattr', ['-d', '-m', '-', join(t.dir, 'etc/hostname')], { encoding: 'utf8' });
  assert.match(attrs, /user\.comment="kept"/);
  assert.doesNotMatch(attrs, /overlay/, 'a layer cannot steer overlayfs with redirect, metacopy or opaque xattrs');

  const nul = lstatSync(join(t.dir, 'dev/null'));
  assert.ok(nul.isCharacterDevice());
  assert.equal(nul.rdev, 0x103);
  assert.ok(lstatSync(join(t.dir, 'dev/initctl')).isFIFO());
  assert.equal(lstatSync(join(t.dir, 'bin/busybox')).mode & 0o7777, 0o4755);
  assert.equal(lstatSync(join(t.dir, 'bin/su')).ino, lstatSync(join(t.dir, 'bin/busybox')).ino);
  assert.equal(lstatSync(join(t.dir, 'bin')).mode & 0o7777, 0o755, 'parents the layer does not list are made 0755');
});

test('a later entry replaces an earlier one at the same path, as tar does', async () => {
  const t = target();
  await unpack(
    tar([
      { path: 'a', body: 'file first' },
      { path: 'a', type: 'dir', mode: 0o750 },
      { path: 'a/b', body: 'inside' },
      { path: 'c', type: 'dir' },
      { path: 'c/old', body: 'gone with c' },
      { path: 'c', type: 'symlink', linkname: 'a' },
      { path: 'd', type: 'char', devmajor: 1, devminor: 5 },
      { path: 'd', body: 'a file after all' },
    ]),
    t.dir,
  );
  assert.ok(lstatSync(join(t.dir, 'a')).isDirectory());
  assert.equal(lstatSync(join(t.dir, 'a')).mode & 0o7777, 0o750);
  assert.equal(readFileSync(join(t.dir, 'a/b'), 'utf8'), 'inside');
  assert.ok(lstatSync(join(t.dir, 'c')).isSymbolicLink());
  assert.equal(readFileSync(join(t.dir, 'd'), 'utf8'), 'a file after all');
});
