/**
 * `eib export` of a 2-layer ~200 MB image, run as the CLI would be: the
 * rootfs tar (streamed from the layers) against umoci unpacking to disk and
 * tar re-reading it, and the ext4 image (unpacked inside the namespace,
 * mke2fs -d, debugfs fixups) against umoci plus a plain `mke2fs -d`.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STAGES_ANNOTATION } from '../../src/store/built-image.js';
import { writeLayer } from '../../src/layer/write.js';
import { buildImageConfig, stageLayers } from '../../src/oci/image.js';
import { Annotation } from '../../src/oci/types.js';
import { OciLayout } from '../../src/store/layout.js';
import { runShell, type BenchContext, type Contender, type Scenario } from '../harness.js';
import { ensureBenchTree } from '../tree.js';

const EIB = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'run.js');
const EPOCH = 1_700_000_000;
const project = (workDir: string): string => join(workDir, 'project');
const layoutDir = (workDir: string): string => join(project(workDir), 'oci');

const CONFIG = `name: bench
arch: x86_64
epoch: ${EPOCH}
alpine:
  repositories: [./repo]
  allow-untrusted: true
stages:
  - name: base
    run: "true"
  - name: prune
    run: "true"
outputs:
  oci: oci
  tag: bench
cache:
  dir: ./cache
`;

function eibExport(file: string): Contender['run'] {
  return (ctx) => runShell(`cd '${project(ctx.workDir)}' && '${process.execPath}' '${EIB}' export '${join(ctx.workDir, file)}' -q >/dev/null`);
}

function removeOutputs(...names: string[]): (ctx: BenchContext) => Promise<void> {
  return async (ctx) => {
    for (const name of names) await rm(join(ctx.workDir, name), { recursive: true, force: true });
  };
}

const umociUnpack = (workDir: string): string => `umoci raw unpack --image '${layoutDir(workDir)}:bench' '${join(workDir, 'rootfs')}'`;

export const exportScenario: Scenario = {
  name: 'export',
  description: 'eib export of a 2-layer ~200 MB image as rootfs.tar and rootfs.ext4',
  async setup(ctx) {
    const tree = join(ctx.workDir, '..', 'tree');
    ensureBenchTree(tree);
    if (existsSync(join(layoutDir(ctx.workDir), 'index.json'))) return;
    await mkdir(join(project(ctx.workDir), 'repo'), { recursive: true });
    await writeFile(join(project(ctx.workDir), 'eib.yaml'), CONFIG);
    // The second layer deletes a few package folders and replaces a file, as a prune stage would.
    const upper = join(ctx.workDir, 'upper');
    await rm(upper, { recursive: true, force: true });
    await mkdir(join(upper, 'usr', 'pkg002', 'lib'), { recursive: true });
    for (const pkg of ['pkg001', 'pkg010', 'pkg020']) await writeFile(join(upper, 'usr', `.wh.${pkg}`), '');
    await writeFile(join(upper, 'usr', 'pkg002', 'lib', 'file81.so'), 'replaced');
    const layout = await OciLayout.create(layoutDir(ctx.workDir));
    const created = '2023-11-14T22:13:20Z';
    const stages = [];
    for (const [name, dir] of [['base', tree], ['prune', upper]] as const) {
      const l = await writeLayer(layout.blobs, { dir, kind: 'tree', epoch: EPOCH });
      stages.push({ name, createdBy: 'bench', created, layer: { descriptor: { ...l.descriptor, annotations: { [Annotation.CacheKey]: `bench-${name}` } }, diffId: l.diffId } });
    }
    await layout.writeImage({
      config: buildImageConfig({ arch: 'x86_64', stages }),
      layers: stageLayers(stages),
      annotations: { [STAGES_ANNOTATION]: JSON.stringify(stages.map((s) => ({ name: s.name, key: `bench-${s.name}` }))) },
      tag: 'bench',
    });
  },
  contenders: [
    { name: 'eib export rootfs.tar', role: 'eib', run: eibExport('rootfs.tar'), after: removeOutputs('rootfs.tar') },
    {
      name: 'umoci raw unpack + tar -c',
      role: 'baseline',
      run: (ctx) => runShell(`${umociUnpack(ctx.workDir)} && tar -C '${join(ctx.workDir, 'rootfs')}' --numeric-owner -cf '${join(ctx.workDir, 'baseline.tar')}' .`),
      after: removeOutputs('rootfs', 'baseline.tar'),
    },
  ],
};

export const exportExt4Scenario: Scenario = {
  name: 'export-ext4',
  description: 'eib export rootfs.ext4 of the same image against umoci unpack + mke2fs -d',
  setup: (ctx) => exportScenario.setup({ ...ctx, workDir: join(ctx.workDir, '..', 'export') }),
  contenders: [
    {
      name: 'eib export rootfs.ext4',
      role: 'eib',
      run: (ctx) => eibExport('rootfs.ext4')({ ...ctx, workDir: join(ctx.workDir, '..', 'export') }),
      after: (ctx) => rm(join(ctx.workDir, '..', 'export', 'rootfs.ext4'), { force: true }),
    },
    {
      name: 'umoci raw unpack + mke2fs -d',
      role: 'baseline',
      run: (ctx) => {
        const shared = join(ctx.workDir, '..', 'export');
        return runShell(`${umociUnpack(shared)} && mke2fs -q -F -t ext4 -d '${join(shared, 'rootfs')}' '${join(ctx.workDir, 'baseline.ext4')}' 512M`);
      },
      after: async (ctx) => {
        await rm(join(ctx.workDir, '..', 'export', 'rootfs'), { recursive: true, force: true });
        await rm(join(ctx.workDir, 'baseline.ext4'), { force: true });
      },
    },
  ],
};
