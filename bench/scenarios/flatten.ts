/**
 * Flattening a two-layer image (the tree, then a layer that deletes and
 * replaces parts of it): eib's streaming flatten against umoci unpacking to
 * disk and tar re-reading it.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeLayer } from '../../src/layer/write.js';
import { buildImageConfig, stageLayers } from '../../src/oci/image.js';
import { OciLayout } from '../../src/store/layout.js';
import { runEibChild, runShell, type Scenario } from '../harness.js';
import { ensureBenchTree } from '../tree.js';

const layoutDir = (workDir: string): string => join(workDir, 'oci');

export const flattenScenario: Scenario = {
  name: 'flatten',
  description: 'merge a 2-layer ~200 MB image into one rootfs tar',
  async setup(ctx) {
    const tree = join(ctx.workDir, '..', 'tree');
    ensureBenchTree(tree);
    if (existsSync(join(layoutDir(ctx.workDir), 'index.json'))) return;
    // The upper layer deletes a few package folders (whiteouts) and replaces some files.
    const upper = join(ctx.workDir, 'upper');
    await rm(upper, { recursive: true, force: true });
    for (const pkg of ['pkg001', 'pkg010', 'pkg020']) {
      await mkdir(join(upper, 'usr'), { recursive: true });
      await writeFile(join(upper, 'usr', `.wh.${pkg}`), '');
    }
    await mkdir(join(upper, 'usr/pkg002/lib'), { recursive: true });
    await writeFile(join(upper, 'usr/pkg002/lib/file81.so'), 'replaced');
    const layout = await OciLayout.create(layoutDir(ctx.workDir));
    const base = await writeLayer(layout.blobs, { dir: tree, kind: 'tree', epoch: 1_700_000_000 });
    const top = await writeLayer(layout.blobs, { dir: upper, kind: 'tree', epoch: 1_700_000_000 });
    const created = '2023-11-14T22:13:20Z';
    const stages = [
      { name: 'base', createdBy: 'bench', created, layer: base },
      { name: 'prune', createdBy: 'bench', created, layer: top },
    ];
    await layout.writeImage({ config: buildImageConfig({ arch: 'x86_64', stages }), layers: stageLayers(stages), tag: 'bench' });
  },
  contenders: [
    {
      name: 'eib flatten',
      role: 'eib',
      run: (ctx) => runEibChild('flatten', [layoutDir(ctx.workDir), 'bench']),
    },
    {
      name: 'umoci raw unpack + tar -c',
      role: 'baseline',
      run: (ctx) =>
        runShell(`umoci raw unpack --image '${layoutDir(ctx.workDir)}:bench' '${join(ctx.workDir, 'rootfs')}' && tar -C '${join(ctx.workDir, 'rootfs')}' -cf - . | sha256sum >/dev/null`),
      after: (ctx) => rm(join(ctx.workDir, 'rootfs'), { recursive: true, force: true }),
    },
  ],
};
