/**
 * readImageFile: one file of the merged root filesystem, read from a layer
 * stack top down, following the image-spec's changeset rules. The layers
 * are real tar (and tar+gzip) streams built here entry by entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type EntryType, type TarHeader } from '../../src/layer/tar-header.js';
import { MediaType } from '../../src/oci/types.js';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImageFile, type ImageLayer } from '../../src/sbom/image-file.js';
import { LayerVerdictFiles } from '../../src/sbom/layer-verdicts.js';

type Entry = { path: string; type?: EntryType; body?: string; linkname?: string };

function header(e: Entry): TarHeader {
  const body = Buffer.from(e.body ?? '');
  return { path: e.path, type: e.type ?? (e.body === undefined ? 'dir' : 'file'), mode: 0o644, uid: 0, gid: 0, size: e.body === undefined ? 0 : body.length, mtime: 0, linkname: e.linkname ?? '', devmajor: 0, devminor: 0, xattrs: new Map() };
}

function tar(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const h = header(e);
    parts.push(encodeHeader(h));
    if (h.type === 'file' && h.size > 0) parts.push(Buffer.from(e.body!), paddingFor(h.size));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

let opened: string[] = [];

function layer(name: string, entries: Entry[], gzip = true): ImageLayer {
  const data = gzip ? gzipSync(tar(entries)) : tar(entries);
  return {
    name,
    mediaType: gzip ? MediaType.LayerGzip : MediaType.Layer,
    open: () => {
      opened.push(name);
      return Readable.from([data]);
    },
  };
}

const DB = 'lib/apk/db/installed';
const dirs: Entry[] = [{ path: 'lib' }, { path: 'lib/apk' }, { path: 'lib/apk/db' }];
const base = (): ImageLayer => layer('base', [...dirs, { path: DB, body: 'P:busybox\n' }, { path: 'etc' }, { path: 'etc/motd', body: 'hi\n' }]);

async function lookup(layers: ImageLayer[], path = DB): Promise<string> {
  opened = [];
  const r = await readImageFile(layers, path);
  return r.kind === 'found' ? `found@${r.layer}:${r.content.toString()}` : r.kind === 'removed' ? `removed@${r.layer}` : 'absent';
}

test('the topmost layer holding the file decides, and the layers below are not read', async () => {
  assert.equal(await lookup([base()]), 'found@0:P:busybox\n');
  assert.equal(await lookup([base(), layer('apk', [...dirs, { path: DB, body: 'P:busybox\n\nP:zlib\n' }]), layer('files', [{ path: 'etc' }, { path: 'etc/hostname', body: 'x\n' }])]), 'found@1:P:busybox\n\nP:zlib\n');
  assert.deepEqual(opened, ['files', 'apk']);
  assert.equal(await lookup([layer('plain', [...dirs, { path: DB, body: 'uncompressed\n' }], false)]), 'found@0:uncompressed\n');
  assert.equal(await lookup([base()], 'etc/nothing'), 'absent');
});

test('whiteouts and opaque directories remove the file; an entry in the same layer survives them', async () => {
  assert.equal(await lookup([base(), layer('rm', [...dirs, { path: 'lib/apk/db/.wh.installed', body: '' }])]), 'removed@1');
  assert.equal(await lookup([base(), layer('rm-dir', [{ path: 'lib' }, { path: 'lib/.wh.apk', body: '' }])]), 'removed@1');
  assert.equal(await lookup([base(), layer('opaque', [...dirs, { path: 'lib/apk/.wh..wh..opq', body: '' }])]), 'removed@1');
  assert.equal(await lookup([base(), layer('root-opaque', [{ path: '.wh..wh..opq', body: '' }])]), 'removed@1');
  assert.equal(await lookup([base(), layer('replaced', [...dirs, { path: 'lib/apk/db/.wh..wh..opq', body: '' }, { path: DB, body: 'P:new\n' }])]), 'found@1:P:new\n');
  // Removed, then installed again by a later stage.
  assert.equal(await lookup([base(), layer('rm', [{ path: 'lib' }, { path: 'lib/.wh.apk', body: '' }]), layer('again', [...dirs, { path: DB, body: 'P:again\n' }])]), 'found@2:P:again\n');
  // A whiteout of a sibling hides nothing.
  assert.equal(await lookup([base(), layer('sibling', [...dirs, { path: 'lib/apk/db/.wh.installed.old', body: '' }])]), 'found@0:P:busybox\n');
  // readImageFile can start below a layer, to see what was there before it.
  opened = [];
  const below = await readImageFile([base(), layer('rm', [...dirs, { path: 'lib/apk/db/.wh.installed', body: '' }])], DB, 0);
  assert.equal(below.kind, 'found');
});

test('a parent replaced by a file hides it; a symlinked parent is followed; a hardlink is read from its target', async () => {
  assert.equal(await lookup([base(), layer('file-parent', [{ path: 'lib' }, { path: 'lib/apk', body: 'not a directory\n' }])]), 'removed@1');
  const merged = layer('usrmerge', [{ path: 'lib', type: 'symlink', linkname: 'usr/lib' }, { path: 'usr' }, { path: 'usr/lib' }, { path: 'usr/lib/apk' }, { path: 'usr/lib/apk/db' }, { path: `usr/${DB}`, body: 'P:merged\n' }]);
  assert.equal(await lookup([merged]), 'found@0:P:merged\n');
  const relative = layer('relative', [{ path: 'lib' }, { path: 'lib/apk', type: 'symlink', linkname: '../var/lib/apk' }, { path: 'var' }, { path: 'var/lib' }, { path: 'var/lib/apk' }, { path: 'var/lib/apk/db' }, { path: `var/${DB}`, body: 'P:var\n' }]);
  assert.equal(await lookup([relative]), 'found@0:P:var\n');
  // The symlink is followed in the merged tree: the target may come from another layer.
  assert.equal(await lookup([layer('target', [{ path: 'data' }, { path: 'data/db' }, { path: 'data/db/installed', body: 'P:elsewhere\n' }]), layer('link', [...dirs, { path: DB, type: 'symlink', linkname: '/data/db/installed' }])]), 'found@0:P:elsewhere\n');
  assert.equal(await lookup([layer('hardlink', [...dirs, { path: 'lib/apk/db/installed.real', body: 'P:linked\n' }, { path: DB, type: 'link', linkname: 'lib/apk/db/installed.real' }])]), 'found@0:P:linked\n');
  await assert.rejects(readImageFile([layer('loop', [...dirs, { path: DB, type: 'symlink', linkname: 'installed' }])], DB), { code: 'EIMAGEFILE' });
});

test('a layer type eib cannot read is named in the error', async () => {
  const zstd: ImageLayer = { name: 'layer sha256:abc (stage base)', mediaType: MediaType.LayerZstd, open: () => Readable.from([Buffer.alloc(0)]) };
  await assert.rejects(readImageFile([zstd], DB), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ELAYERTYPE');
    assert.match(e.message, /stage base.*tar\+zstd/);
    return true;
  });
});

test('remembered verdicts: a layer already read for the path is not read again, a damaged record is read again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eib-verdicts-'));
  try {
    const cache = new LayerVerdictFiles(dir);
    const withDigest = (l: ImageLayer, digest: string): ImageLayer => ({ ...l, digest: `sha256:${digest.repeat(64)}` as const });
    const stack = (): ImageLayer[] => [
      withDigest(base(), 'a'),
      withDigest(layer('link', [...dirs, { path: 'lib/apk/db/copy', type: 'link', linkname: DB }, { path: DB, body: 'P:linked\n' }]), 'b'),
      withDigest(layer('top', [{ path: 'etc' }, { path: 'etc/.wh.motd' }]), 'c'),
    ];
    const read = async (layers: ImageLayer[], path: string): Promise<string> => {
      opened = [];
      const r = await readImageFile(layers, path, layers.length - 1, cache);
      return r.kind === 'found' ? `found@${r.layer}:${r.content.toString()}` : r.kind === 'removed' ? `removed@${r.layer}` : 'absent';
    };
    assert.equal(await read(stack(), DB), 'found@1:P:linked\n');
    assert.deepEqual(opened, ['top', 'link']);
    assert.equal(await read(stack(), DB), 'found@1:P:linked\n');
    assert.deepEqual(opened, []);
    assert.equal(await read(stack(), 'lib/apk/db/copy'), 'found@1:P:linked\n');
    assert.equal(await read(stack(), 'lib/apk/db/copy'), 'found@1:P:linked\n');
    assert.deepEqual(opened, []);
    assert.equal(await read(stack(), 'etc/motd'), 'removed@2');
    assert.equal(await read(stack(), 'etc/motd'), 'removed@2');
    assert.deepEqual(opened, []);
    // A new top layer is read; the ones below answer from the cache.
    assert.equal(await read([...stack().slice(0, 2), withDigest(layer('new', [{ path: 'etc' }]), 'd')], DB), 'found@1:P:linked\n');
    assert.deepEqual(opened, ['new']);
    for (const f of readdirSync(cache.dir)) writeFileSync(join(cache.dir, f), '{"truncated');
    assert.equal(await read(stack(), DB), 'found@1:P:linked\n');
    assert.deepEqual(opened, ['top', 'link']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
