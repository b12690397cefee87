import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { BlobStore } from '../../src/store/blob-store.js';
import { writeLayer } from '../../src/layer/write.js';
import { OciLayout } from '../../src/store/layout.js';
import { buildImageConfig } from '../../src/oci/image.js';
import { describeTree, listTar, makeRichTree } from './trees.js';
import { asUser, REPO_ROOT, userTempDir } from '../helpers/user.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'eib-layer-'));

test('a tree with every file type becomes a layer that GNU tar and umoci read back identically', async () => {
  const work = tmp();
  const src = join(work, 'src');
  execFileSync('mkdir', [src]);
  makeRichTree(src);
  const layout = await OciLayout.create(join(work, 'oci'));
  const layer = await writeLayer(layout.blobs, { dir: src, kind: 'tree' });
  assert.equal(layer.descriptor.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');

  // Digests are what they say: sha256 of the blob, and of the gunzipped blob.
  const blob = layout.blobs.path(layer.descriptor.digest);
  assert.equal(`sha256:${execFileSync('sha256sum', [blob], { encoding: 'utf8' }).split(' ')[0]}`, layer.descriptor.digest);
  const unzipped = execFileSync('sh', ['-c', `gzip -dc '${blob}' | sha256sum`], { encoding: 'utf8' }).split(' ')[0];
  assert.equal(`sha256:${unzipped}`, layer.diffId);

  // GNU tar: hardlink as a link, xattrs kept, user.overlay.* dropped, numeric owners, no names.
  const listing = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-tvzf', blob], { encoding: 'utf8' });
  assert.match(listing, /^hrwsr-xr-x\s+0\/0 .* bin\/su link to bin\/busybox$/m);
  assert.match(listing, /^crw-rw-rw-\s+0\/0\s+1,3 .* dev\/null$/m);
  assert.match(listing, /^brw-rw----\s+0\/0\s+8,1 .* dev\/sda1$/m);
  assert.match(listing, /^-rw-r-----\s+0\/42 .* etc\/shadow$/m);
  const entries = await listTar(createReadStream(blob).pipe(createGunzip()));
  const byName = new Map(entries.map((e) => [e.name, e]));
  assert.equal(byName.get('etc/hostname')?.pax?.['SCHILY.xattr.user.comment'], 'kept');
  assert.equal(byName.get('etc/hostname')?.pax?.['SCHILY.xattr.user.overlay.origin'], undefined);
  assert.ok(byName.get('bin/ping')?.pax?.['SCHILY.xattr.security.capability'], 'capability kept');
  assert.ok(!listing.includes('root/root'), 'no user or group names');
  assert.deepEqual(entries.map((e) => e.name), [...entries.map((e) => e.name)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  assert.equal(layer.entries, entries.length);

  // umoci unpacks it (as root, so owners and devices are real) into the same tree.
  const config = buildImageConfig({ arch: 'aarch64', stages: [{ name: 'base', createdBy: 'test', created: '2021-06-01T00:00:00Z', layer }] });
  await layout.writeImage({ config, layers: [layer.descriptor], tag: 'rich' });
  const bundle = join(work, 'bundle');
  execFileSync('umoci', ['unpack', '--image', `${layout.dir}:rich`, bundle], { stdio: 'pipe' });
  const opts = { owners: true, content: true, mtimes: true };
  assert.deepEqual(describeTree(join(bundle, 'rootfs'), opts), describeTree(src, opts));
  const cap = spawnSync('getfattr', ['-n', 'security.capability', '--only-values', join(bundle, 'rootfs/bin/ping')]);
  assert.equal(cap.stdout.toString('base64'), 'AQAAAgAgAAAAAAAAAAAAAAAAAAA=');
  rmSync(work, { recursive: true, force: true });
});

test('the same tree gives byte-identical blobs, and the epoch clamps mtimes', async () => {
  const work = tmp();
  const src = join(work, 'src');
  execFileSync('mkdir', [src]);
  makeRichTree(src);
  const a = new BlobStore(join(work, 'a'));
  const b = new BlobStore(join(work, 'b'));
  const first = await writeLayer(a, { dir: src, kind: 'tree', epoch: 1_500_000_000 });
  // Touch everything to "now": with the epoch in the past, nothing may change.
  const now = new Date();
  for (const name of readdirSync(join(src, 'etc'))) utimesSync(join(src, 'etc', name), now, now);
  const second = await writeLayer(b, { dir: src, kind: 'tree', epoch: 1_500_000_000 });
  assert.deepEqual(second, first);
  assert.ok(readFileSync(a.path(first.descriptor.digest)).equals(readFileSync(b.path(second.descriptor.digest))));
  const entries = await listTar(createReadStream(a.path(first.descriptor.digest)).pipe(createGunzip()));
  assert.ok(entries.every((e) => e.mtime === 1_500_000_000));
  // Without an epoch the real (older) mtimes are kept.
  const third = await writeLayer(a, { dir: src, kind: 'tree', epoch: 2_000_000_000 });
  const later = await listTar(createReadStream(a.path(third.descriptor.digest)).pipe(createGunzip()));
  assert.equal(later.find((e) => e.name === 'bin/busybox')?.mtime, Date.parse('2021-06-01T00:00:00Z') / 1000);
  rmSync(work, { recursive: true, force: true });
});

test('an empty tree gives an empty layer with zero entries', async () => {
  const work = tmp();
  const src = join(work, 'empty');
  execFileSync('mkdir', [src]);
  const layer = await writeLayer(new BlobStore(join(work, 'store')), { dir: src, kind: 'upperdir' });
  assert.equal(layer.entries, 0);
  assert.equal(layer.uncompressedSize, 1024);
  rmSync(work, { recursive: true, force: true });
});

test('a missing source directory is an ELAYERREAD error and leaves no blob', async () => {
  const work = tmp();
  const store = new BlobStore(join(work, 'store'));
  await assert.rejects(writeLayer(store, { dir: join(work, 'nope'), kind: 'tree' }), { code: 'ELAYERREAD' });
  assert.deepEqual(await store.list(), []);
  writeFileSync(join(work, 'file'), 'x');
  await assert.rejects(writeLayer(store, { dir: join(work, 'file'), kind: 'tree' }), { code: 'ELAYERREAD' });
  assert.deepEqual(await store.list(), []);
  rmSync(work, { recursive: true, force: true });
});

test('inside the user namespace, files of subordinate ids keep their namespace owners', async () => {
  const work = userTempDir('eib-userns-layer-');
  const writer = join(REPO_ROOT, 'dist/src/layer/write.js');
  const storeMod = join(REPO_ROOT, 'dist/src/store/blob-store.js');
  const script = [
    `import { writeLayer } from '${writer}';`,
    `import { BlobStore } from '${storeMod}';`,
    `const r = await writeLayer(new BlobStore('${work}/store'), { dir: '${work}/tree', kind: 'tree' });`,
    'console.log(JSON.stringify(r));',
  ].join('\n');
  const shell = [
    'set -eu',
    `mkdir -p '${work}/tree/etc' && echo x > '${work}/tree/etc/shadow'`,
    `chown 0:42 '${work}/tree/etc/shadow' && chmod 640 '${work}/tree/etc/shadow'`,
    `mkdir '${work}/tree/home' && chown 1000:1000 '${work}/tree/home'`,
    `setfattr -n user.note -v ns '${work}/tree/home'`,
    `exec '${process.execPath}' --input-type=module -e "$0"`,
  ].join('\n');
  const [cmd, ...prefix] = [...asUser(), 'unshare', '--user', '--map-auto', '--map-root-user', '--mount'];
  const out = execFileSync(cmd ?? 'unshare', [...prefix, 'sh', '-c', shell, script], { encoding: 'utf8' });
  const layer = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { descriptor: { digest: string } };
  const blob = join(work, 'store/blobs/sha256', layer.descriptor.digest.slice('sha256:'.length));
  const entries = await listTar(createReadStream(blob).pipe(createGunzip()));
  const owners = Object.fromEntries(entries.map((e) => [e.name, `${e.uid}:${e.gid}`]));
  assert.deepEqual(owners, { etc: '0:0', 'etc/shadow': '0:42', home: '1000:1000' });
  assert.equal(entries.find((e) => e.name === 'home')?.pax?.['SCHILY.xattr.user.note'], 'ns');
  rmSync(work, { recursive: true, force: true });
});
