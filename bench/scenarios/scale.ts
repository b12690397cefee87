/**
 * How cost grows with the image: a synthetic signed repository (about 300
 * packages plus busybox from the shared repository) at several installed
 * sizes (EIB_BENCH_SCALE, GB, default "0.1,0.3,1"),
 * x86_64 so the manual way runs natively. Per size:
 *   scale-<size>g-build    cold build          vs apk add + tar|gzip|sha256sum
 *   scale-<size>g-rebuild  last stage changed  vs chroot sh + tar|gzip|sha256sum
 *   scale-<size>g-export   eib export .tar     vs umoci raw unpack + tar -c
 *   scale-<size>g-push     eib push            vs skopeo copy
 */
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { removeTree, runEibCli, runShell, type BenchContext, type Scenario } from '../harness.js';
import { ManualRoot, SHARED_KEY, SHARED_REPO } from '../manual.js';
import { writeProject } from '../project.js';
import { ensureSyntheticRepo, type SyntheticRepo } from '../synthetic-repo.js';
import { benchRegistry, pushContenders } from './push.js';

export function scaleSizes(): number[] {
  return (process.env['EIB_BENCH_SCALE'] ?? '0.1,0.3,1')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
}

function config(repo: SyntheticRepo, script: string): string {
  return `name: bench-scale
arch: x86_64
alpine:
  repositories: [${repo.repo}, ${SHARED_REPO}]
  keys: [${repo.keyFile}, ${SHARED_KEY}]
stages:
  - name: base
    packages: [${repo.world.join(', ')}, busybox, busybox-binsh]
  - name: configure
    run: ${JSON.stringify(script)}
outputs:
  oci: out/oci
  tag: latest
`;
}

let edits = 0;
const nextScript = (): string => `echo build-${++edits} > /etc/build-id`;

function tier(gb: number): Scenario[] {
  const name = `scale-${gb}g`;
  // Inputs shared by the four scenarios of this size, beside their work dirs.
  const shared = (ctx: BenchContext): string => join(ctx.workDir, '..', name);
  const repoOf = (ctx: BenchContext): Promise<SyntheticRepo> => ensureSyntheticRepo(join(shared(ctx), 'synthetic'), gb * 1e9);
  const coldProject = (ctx: BenchContext): string => join(ctx.workDir, 'project');
  const builtProject = (ctx: BenchContext): string => join(shared(ctx), 'built');
  const world = async (ctx: BenchContext): Promise<{ repos: string[]; keys: string[]; world: string[] }> => {
    const repo = await repoOf(ctx);
    return { repos: [repo.repo, SHARED_REPO], keys: [repo.keyFile, SHARED_KEY], world: [...repo.world, 'busybox', 'busybox-binsh'] };
  };
  /** The image the rebuild, export and push scenarios start from, built once. */
  let built: Promise<void> | undefined;
  const ensureBuilt = (ctx: BenchContext): Promise<void> =>
    (built ??= (async () => {
      await writeProject(builtProject(ctx), { 'eib.yaml': config(await repoOf(ctx), nextScript()) });
      await runEibCli(builtProject(ctx), ['build', '--quiet']);
    })());
  const manualOf = (ctx: BenchContext, which: string): Promise<ManualRoot> => ManualRoot.open(join(shared(ctx), `apk-${which}`), 'x86_64');
  const registry = benchRegistry();
  // Large tiers keep `npm run bench` within its time budget: one timed run after the warm-up.
  const runs = gb >= 0.3 ? 1 : 2;

  return [
    {
      name: `${name}-build`,
      description: `cold eib build of ~300 synthetic packages, ${gb} GB installed, against apk add + tar | gzip -6 | sha256sum`,
      maxRuns: runs,
      async setup(ctx) {
        await writeProject(coldProject(ctx), { 'eib.yaml': config(await repoOf(ctx), 'true') });
        await (await manualOf(ctx, 'cold')).reset();
      },
      contenders: [
        {
          name: 'eib build (empty cache)',
          role: 'eib',
          run: (ctx) => runEibCli(coldProject(ctx), ['build', '--quiet']),
          async after(ctx) {
            await removeTree(join(coldProject(ctx), '.cache'));
            await removeTree(join(coldProject(ctx), 'out'));
          },
        },
        {
          name: 'apk add + tar|gzip|sha256sum',
          role: 'baseline',
          run: async (ctx) => {
            const w = await world(ctx);
            return (await manualOf(ctx, 'cold')).install(w.repos, w.keys, w.world);
          },
          after: async (ctx) => (await manualOf(ctx, 'cold')).reset(),
        },
      ],
    },
    {
      name: `${name}-rebuild`,
      description: `eib rebuild after the last stage's script changed, ${gb} GB image, against chroot sh + tar | gzip -6 | sha256sum of the root`,
      maxRuns: runs,
      async setup(ctx) {
        await ensureBuilt(ctx);
        const manual = await manualOf(ctx, 'rebuild');
        await manual.reset();
        const w = await world(ctx);
        await manual.install(w.repos, w.keys, w.world, false);
      },
      contenders: [
        {
          name: 'eib build (last stage changed)',
          role: 'eib',
          async before(ctx) {
            const file = join(builtProject(ctx), 'eib.yaml');
            await writeFile(file, (await readFile(file, 'utf8')).replace(/run: .*\n/, `run: ${JSON.stringify(nextScript())}\n`));
          },
          run: (ctx) => runEibCli(builtProject(ctx), ['build', '--quiet']),
        },
        { name: 'chroot sh + tar|gzip|sha256sum', role: 'baseline', run: async (ctx) => (await manualOf(ctx, 'rebuild')).runScript(nextScript()) },
      ],
      teardown: async (ctx) => (await manualOf(ctx, 'rebuild')).reset(),
    },
    {
      name: `${name}-export`,
      description: `eib export rootfs.tar of the ${gb} GB image, against umoci raw unpack + tar -c`,
      maxRuns: runs,
      setup: ensureBuilt,
      contenders: [
        {
          name: 'eib export rootfs.tar',
          role: 'eib',
          run: (ctx) => runEibCli(builtProject(ctx), ['export', 'rootfs.tar', '--quiet']),
          after: (ctx) => removeTree(join(builtProject(ctx), 'rootfs.tar')),
        },
        {
          name: 'umoci raw unpack + tar -c',
          role: 'baseline',
          run: (ctx) => {
            const rootfs = join(ctx.workDir, 'rootfs');
            return runShell(`umoci raw unpack --image '${join(builtProject(ctx), 'out', 'oci')}:latest' '${rootfs}' && tar -C '${rootfs}' --numeric-owner -cf '${join(ctx.workDir, 'rootfs.tar')}' .`);
          },
          async after(ctx) {
            await removeTree(join(ctx.workDir, 'rootfs'));
            await removeTree(join(ctx.workDir, 'rootfs.tar'));
          },
        },
      ],
    },
    {
      name: `${name}-push`,
      description: `eib push of the ${gb} GB image to a local registry, against skopeo copy`,
      maxRuns: runs,
      async setup(ctx) {
        await ensureBuilt(ctx);
        await registry.start();
      },
      contenders: pushContenders(registry, builtProject),
      teardown: () => registry.stop(),
    },
  ];
}

export function scaleScenarios(): Scenario[] {
  return scaleSizes().flatMap(tier);
}
