import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLayer } from '../../src/layer/write.js';
import { buildImageConfig, stageLayers } from '../../src/oci/image.js';
import { OciLayout } from '../../src/store/layout.js';

async function imageIn(dir: string, content: string, epoch = 1_700_000_000): Promise<{ layout: OciLayout; tree: string }> {
  const tree = join(dir, `tree-${content}`);
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc/motd'), content);
  const layout = await OciLayout.create(join(dir, 'oci'));
  const layer = await writeLayer(layout.blobs, { dir: tree, kind: 'tree', epoch });
  const stages = [{ name: 'files', createdBy: 'eib: files', created: '2023-11-14T22:13:20Z', layer }];
  await layout.writeImage({ config: buildImageConfig({ arch: 'aarch64', stages }), layers: stageLayers(stages), tag: content });
  return { layout, tree };
}

test('a written image reads back the same, and skopeo and umoci accept it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eib-layout-'));
  const { layout } = await imageIn(dir, 'one');
  const desc = await layout.resolve('one');
  assert.deepEqual(desc.platform, { architecture: 'arm64', os: 'linux', variant: 'v8' });
  const manifest = await layout.readManifest(desc);
  const config = await layout.readConfig(manifest);
  const reopened = await OciLayout.open(layout.dir);
  assert.deepEqual(await reopened.readManifest(await reopened.resolve('one')), manifest);
  assert.equal(config.rootfs.diff_ids.length, 1);

  const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${layout.dir}:one`], { encoding: 'utf8' })) as { Architecture: string; Layers: string[]; Digest: string };
  assert.equal(inspect.Architecture, 'arm64');
  assert.deepEqual(inspect.Layers, manifest.layers.map((l) => l.digest));
  assert.equal(inspect.Digest, desc.digest);

  const copy = join(dir, 'copy');
  execFileSync('skopeo', ['copy', `oci:${layout.dir}:one`, `oci:${copy}:one`], { stdio: 'pipe' });
  const copied = await OciLayout.open(copy);
  assert.equal((await copied.resolve('one')).digest, desc.digest, 'skopeo copies it byte for byte');

  execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout.dir}:one`, join(dir, 'bundle')], { stdio: 'pipe' });
  assert.equal(readFileSync(join(dir, 'bundle/rootfs/etc/motd'), 'utf8'), 'one');
  rmSync(dir, { recursive: true, force: true });
});

test('writing a tag replaces only that tag; the same input gives the same manifest digest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eib-layout-'));
  const { layout } = await imageIn(dir, 'one');
  await imageIn(dir, 'two');
  const firstTwo = await layout.resolve('two');
  assert.deepEqual(await layout.tags(), ['one', 'two']);
  await layout.setTag('one', firstTwo);
  assert.deepEqual(await layout.tags(), ['two', 'one']);
  assert.equal((await layout.resolve('one')).digest, firstTwo.digest);
  await assert.rejects(layout.resolve('three'), { code: 'ETAGMISSING' });
  await assert.rejects(layout.setTag('bad tag', firstTwo), { code: 'ELAYOUT' });

  const other = mkdtempSync(join(tmpdir(), 'eib-layout-'));
  const again = await imageIn(other, 'two');
  assert.equal((await again.layout.resolve('two')).digest, firstTwo.digest, 'same tree and epoch → same manifest digest');
  const index = JSON.parse(readFileSync(join(layout.dir, 'index.json'), 'utf8')) as { manifests: unknown[] };
  assert.equal(index.manifests.length, 2);
  // Tagging what the tag already names (a no-op rebuild) leaves index.json as it is: no new file.
  const before = statSync(join(layout.dir, 'index.json')).ino;
  await layout.setTag('one', await layout.resolve('one'));
  assert.equal(statSync(join(layout.dir, 'index.json')).ino, before);
  await layout.setTag('three', await layout.resolve('two'));
  assert.notEqual(statSync(join(layout.dir, 'index.json')).ino, before);
  assert.deepEqual(await layout.tags(), ['two', 'one', 'three']);
  execFileSync('skopeo', ['inspect', `oci:${layout.dir}:one`], { stdio: 'pipe' });
  rmSync(dir, { recursive: true, force: true });
  rmSync(other, { recursive: true, force: true });
});

test('concurrent tag writes in one process all land', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eib-layout-'));
  const { layout } = await imageIn(dir, 'base');
  const d = await layout.resolve('base');
  await Promise.all(Array.from({ length: 10 }, (_, i) => layout.setTag(`t${i}`, d)));
  assert.deepEqual((await layout.tags()).sort(), ['base', ...Array.from({ length: 10 }, (_, i) => `t${i}`)].sort());
  rmSync(dir, { recursive: true, force: true });
});

test('opening a folder that is not a layout is ELAYOUT; a manifest with missing blobs is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eib-layout-'));
  await assert.rejects(OciLayout.open(dir), { code: 'ELAYOUT' });
  const layout = await OciLayout.create(join(dir, 'oci'));
  const config = buildImageConfig({ arch: 'x86_64', stages: [] });
  await assert.rejects(
    layout.writeImage({ config, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'0'.repeat(64)}`, size: 1 }], tag: 'x' }),
    { code: 'EBLOBMISSING' },
  );
  assert.deepEqual(await layout.tags(), []);
  rmSync(dir, { recursive: true, force: true });
});
