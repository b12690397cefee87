/**
 * Whiteout cases made by the real thing: each step runs on an overlayfs
 * mount (userxattr, inside a user namespace, as the unprivileged test user),
 * so the upperdirs hold real whiteouts and opaque markers. The merged
 * overlay view after the last step is the truth; flatten and umoci must
 * both give exactly that tree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { flatten } from '../../src/layer/flatten.js';
import { rememberedScans } from '../../src/layer/flatten-scans.js';
import { writeLayer } from '../../src/layer/write.js';
import { buildImageConfig } from '../../src/oci/image.js';
import { OciLayout } from '../../src/store/layout.js';
import { asUser, userTempDir } from '../helpers/user.js';
import { describeTree, FIND_TYPE, listTar } from './trees.js';

interface Case {
  name: string;
  base: string;
  steps: string[];
}

const CASES: Case[] = [
  { name: 'file deleted, directory re-moded', base: 'echo a > a; mkdir d; echo b > d/b; chmod 755 d', steps: ['rm a; chmod 700 d'] },
  { name: 'directory deleted', base: 'mkdir -p d/x; echo y > d/x/y; echo z > d/z; echo keep > k', steps: ['rm -rf d'] },
  { name: 'directory replaced by a file and back', base: 'mkdir d; echo x > d/x', steps: ['rm -rf d; echo file > d', 'rm d; mkdir d; echo n > d/new'] },
  { name: 'opaque directory with re-added children', base: 'mkdir -p d/sub; echo a > d/a; echo b > d/b; echo c > d/sub/c', steps: ['rm -rf d; mkdir d; echo a2 > d/a; echo new > d/new'] },
  { name: 'symlink replaced by a directory', base: 'mkdir target; echo t > target/t; ln -s target l', steps: ['rm l; mkdir l; echo x > l/x'] },
  { name: 'hardlink whose target is deleted', base: 'echo data > f; ln f g; ln f h', steps: ['rm f'] },
  { name: 'file replaced twice, fifo and symlink added', base: 'echo 1 > f; mkdir -p p/q', steps: ['echo 2 > f; mkfifo p/fifo', 'echo 3 > f; ln -s ../f p/q/s'] },
];

/** Run the case inside a user namespace as the test user; returns the work dir. */
function buildCase(c: Case): { work: string; layers: { dir: string; kind: 'tree' | 'upperdir'; lowers: string[] }[]; expected: string[] } {
  const work = userTempDir('eib-flatten-');
  const lines = ['set -eu', `cd '${work}'`, 'mkdir base m', `(cd base && ${c.base})`];
  const uppers: string[] = [];
  c.steps.forEach((step, i) => {
    const lowers = [...uppers].reverse().concat('base').join(':');
    lines.push(`mkdir up${i} work${i}`);
    lines.push(`mount -t overlay overlay -o userxattr,lowerdir=${lowers},upperdir=up${i},workdir=work${i} m`);
    lines.push(`(cd m && ${step})`, 'umount m');
    uppers.push(`up${i}`);
  });
  lines.push(`mount -t overlay overlay -o userxattr,lowerdir=${[...uppers].reverse().concat('base').join(':')} m`);
  lines.push(`(cd m && find . -mindepth 1 -printf '%P %y %m\\n') > expected.txt`, 'umount m');
  execFileSync(asUser()[0] ?? 'env', [...asUser().slice(1), 'unshare', '--user', '--map-root-user', '--mount', 'sh', '-c', lines.join('\n')], { stdio: 'pipe' });
  const expected = readFileSync(join(work, 'expected.txt'), 'utf8').trim().split('\n').filter(Boolean).sort();
  const layers = [{ dir: join(work, 'base'), kind: 'tree' as const, lowers: [] as string[] }];
  uppers.forEach((u, i) => layers.push({ dir: join(work, u), kind: 'upperdir' as const, lowers: uppers.slice(0, i).reverse().map((l) => join(work, l)).concat(join(work, 'base')) } as never));
  return { work, layers, expected };
}

for (const c of CASES) {
  test(`flatten matches overlayfs and umoci: ${c.name}`, async () => {
    const { work, layers, expected } = buildCase(c);
    const layout = await OciLayout.create(join(work, 'oci'));
    const written = [];
    for (const l of layers) written.push(await writeLayer(layout.blobs, { dir: l.dir, kind: l.kind, lowers: l.lowers, epoch: 1_600_000_000 }));
    const config = buildImageConfig({
      arch: 'x86_64',
      stages: written.map((w, i) => ({ name: `s${i}`, createdBy: 'test', created: '2020-09-13T12:26:40Z', layer: w })),
    });
    await layout.writeImage({ config, layers: written.map((w) => w.descriptor), tag: 'case' });

    const openers = written.map((w) => () => layout.blobs.open(w.descriptor.digest));
    const merged = await listTar(flatten(openers));
    const flattened = merged.map((e) => `${e.name} ${e.type === 'link' ? 'f' : FIND_TYPE[e.type]} ${(e.mode & 0o7777).toString(8)}`).sort();
    assert.deepEqual(flattened, expected, 'flatten = merged overlay view');
    assert.ok(!merged.some((e) => e.name.split('/').some((p) => p.startsWith('.wh.'))), 'no whiteout files in the output');
    for (const e of merged.filter((m) => m.type === 'link')) {
      assert.ok(merged.some((m) => m.name === e.linkname && m.type === 'file' && merged.indexOf(m) < merged.indexOf(e)), `hardlink ${e.name} → ${e.linkname} points at an earlier file`);
    }

    const bundle = join(work, 'bundle');
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout.dir}:case`, bundle], { stdio: 'pipe' });
    const unpacked = describeTree(join(bundle, 'rootfs')).sort();
    assert.deepEqual(unpacked, expected, 'umoci = merged overlay view');

    // Same stack, same bytes.
    const again = await listTar(flatten(openers));
    assert.deepEqual(again, merged);

    // Scans remembered by digest: the same bytes, and no layer opened for its scan.
    const scans = rememberedScans(join(work, 'cache'), written.map((w) => w.descriptor.digest));
    let opens = 0;
    const counted = openers.map((open) => () => (opens++, open()));
    assert.deepEqual(await listTar(flatten(counted, { scans })), merged);
    const scanning = opens;
    opens = 0;
    assert.deepEqual(await listTar(flatten(counted, { scans })), merged);
    assert.equal(opens, scanning - layers.length);
    rmSync(work, { recursive: true, force: true });
  });
}

test('the opaque marker comes first in its directory and only where a lower has the directory', async () => {
  const { work, layers } = buildCase({ name: 'opaque', base: 'mkdir d; echo a > d/a', steps: ['rm -rf d; mkdir d e; echo b > d/b; echo c > e/c'] });
  const layout = await OciLayout.create(join(work, 'oci'));
  const upper = layers[1]!;
  const w = await writeLayer(layout.blobs, { dir: upper.dir, kind: 'upperdir', lowers: upper.lowers });
  const names = (await listTar(Readable.from(layout.blobs.open(w.descriptor.digest)).pipe(createGunzip()))).map((e) => e.name);
  assert.deepEqual(names, ['d', 'd/.wh..wh..opq', 'd/b', 'e', 'e/c']);
  rmSync(work, { recursive: true, force: true });
});

/** A gzip tar built in code, for layers no real tool would write. */
async function craftedLayer(entries: { name: string; type?: 'file' | 'link' | 'directory'; linkname?: string; body?: string }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const e of entries) {
    const h = { name: e.name, type: e.type ?? 'file', mode: 0o644, mtime: new Date(0) } as tarStream.Header;
    if (e.linkname !== undefined) h.linkname = e.linkname;
    pack.entry(h, e.body ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack.pipe(createGzip())) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('ELAYERPATH: an entry escaping the root names the layer and the path (zip-slip)', async () => {
  for (const bad of ['../etc/passwd', 'a/../../x', '/etc/shadow']) {
    const blob = await craftedLayer([{ name: 'ok' }, { name: bad }]);
    await assert.rejects(
      listTar(flatten([() => Readable.from([blob])], { names: ['layer sha256:abc'] })),
      (e: Error & { code?: string }) => e.code === 'ELAYERPATH' && e.message.includes('layer sha256:abc') && e.message.includes(bad),
    );
  }
  const link = await craftedLayer([{ name: 'x' }, { name: 'l', type: 'link', linkname: '../../etc/shadow' }]);
  await assert.rejects(listTar(flatten([() => Readable.from([link])])), { code: 'ELAYERPATH' });
});

test('a hardlink whose target was replaced in a later layer keeps the content it had', async () => {
  const lower = await craftedLayer([{ name: 'f', body: 'old' }, { name: 'g', type: 'link', linkname: 'f' }, { name: 'h', type: 'link', linkname: 'f' }]);
  const upper = await craftedLayer([{ name: 'f', body: 'new content' }]);
  const merged = await listTar(flatten([() => Readable.from([lower]), () => Readable.from([upper])]));
  const sha = (s: string): string => (execFileSync('sha256sum', { input: s, encoding: 'utf8' }).split(' ')[0] ?? '');
  assert.deepEqual(
    merged.map((e) => [e.name, e.type, e.linkname ?? '', e.sha256]),
    [
      ['g', 'file', '', sha('old')],
      ['h', 'link', 'g', sha('')],
      ['f', 'file', '', sha('new content')],
    ],
  );
});
