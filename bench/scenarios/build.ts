/**
 * eib build as users run it, against the manual way (real apk-tools in a
 * rootless namespace, then tar | gzip | sha256sum of the root):
 *   build-cold-x86_64, build-cold-aarch64: the 14-package set of the shared
 *     repository into an empty cache;
 *   build-noop: a rebuild with nothing changed, against `eib --version`;
 *   build-last-stage: a rebuild after the last stage's script changed,
 *     against running that script chrooted in the root and re-archiving it.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AlpineArch } from '../../src/config/types.js';
import { REPO_ROOT, SHARED_ALPINE } from '../../test/helpers/user.js';
import { removeTree, runEibCli, type BenchContext, type Scenario } from '../harness.js';
import { ManualRoot, SHARED_KEY, SHARED_REPO, SHARED_WORLD } from '../manual.js';
import { giveToUser, writeProject } from '../project.js';
import { benchRegistry, pushContenders } from './push.js';

const project = (ctx: BenchContext): string => join(ctx.workDir, 'project');

function coldConfig(arch: AlpineArch): string {
  return `name: bench-cold
arch: ${arch}
alpine:
  repositories: [${SHARED_REPO}]
  keys: [${SHARED_KEY}]
stages:
  - name: base
    packages: [${SHARED_WORLD.join(', ')}]
outputs:
  oci: out/oci
  tag: latest
`;
}

/** Empty the cache and the output, so the next build starts cold. */
async function coldState(ctx: BenchContext): Promise<void> {
  await removeTree(join(project(ctx), '.cache'));
  await removeTree(join(project(ctx), 'out'));
}

function coldBuild(arch: AlpineArch): Scenario {
  let manual: ManualRoot | undefined;
  return {
    name: `build-cold-${arch}`,
    description: `cold eib build of the 14-package set for ${arch}, against the real apk-tools${arch === 'x86_64' ? '' : ' under qemu'} + tar | gzip -6 | sha256sum`,
    async setup(ctx) {
      await writeProject(project(ctx), { 'eib.yaml': coldConfig(arch) });
      manual = await ManualRoot.open(join(ctx.workDir, '..', `apk-${arch}`), arch);
      await manual.reset();
      await coldState(ctx);
    },
    contenders: [
      { name: 'eib build (empty cache)', role: 'eib', run: (ctx) => runEibCli(project(ctx), ['build', '--quiet']), after: coldState },
      {
        name: `apk add${arch === 'x86_64' ? '' : ' (qemu)'} + tar|gzip|sha256sum`,
        role: 'baseline',
        run: () => manual!.install([SHARED_REPO], [SHARED_KEY], SHARED_WORLD),
        after: () => manual!.reset(),
      },
    ],
  };
}

/** fixtures/demo (3 stages, aarch64) pointing at the shared repository, owned by the bench user. */
async function demoProject(dir: string, edit: (yaml: string) => string = (y) => y): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await cp(join(REPO_ROOT, 'fixtures', 'demo'), dir, { recursive: true });
  const yaml = (await readFile(join(dir, 'eib.yaml'), 'utf8')).replaceAll('../../../shared/alpine', SHARED_ALPINE);
  await writeFile(join(dir, 'eib.yaml'), edit(yaml));
  giveToUser(dir);
}

/** A built demo project: used by the no-op rebuild and the push scenarios. */
export async function builtDemo(ctx: BenchContext): Promise<string> {
  const dir = project(ctx);
  await demoProject(dir);
  await runEibCli(dir, ['build', '--quiet']);
  return dir;
}

export const buildNoopScenario: Scenario = {
  name: 'build-noop',
  description: 'eib build of the 3-stage demo with nothing changed, against eib --version',
  async setup(ctx) {
    await builtDemo(ctx);
  },
  contenders: [
    { name: 'eib build (all cached)', role: 'eib', run: (ctx) => runEibCli(project(ctx), ['build', '--quiet']) },
    { name: 'eib --version', role: 'baseline', run: (ctx) => runEibCli(project(ctx), ['--version']) },
  ],
};

/** The last stage's script, different on every run. */
let edits = 0;
const lastScript = (): string => `echo build-${++edits} > /etc/build-id`;
const withLastScript = (yaml: string, script: string): string => yaml.replace('  - name: prune\n', `  - name: prune\n    run: ${script}\n`);

export const buildLastStageScenario: Scenario = {
  name: 'build-last-stage',
  description: 'rebuild of the aarch64 demo after its last stage script changed, against that script chrooted (qemu) in the apk-installed root + tar | gzip -6 | sha256sum',
  async setup(ctx) {
    await demoProject(project(ctx), (y) => withLastScript(y, lastScript()));
    await runEibCli(project(ctx), ['build', '--quiet']);
    const manual = await ManualRoot.open(join(ctx.workDir, '..', 'apk-aarch64'), 'aarch64');
    await manual.reset();
    await manual.install([SHARED_REPO], [SHARED_KEY], SHARED_WORLD, false);
  },
  contenders: [
    {
      name: 'eib build (last stage changed)',
      role: 'eib',
      async before(ctx) {
        const file = join(project(ctx), 'eib.yaml');
        const yaml = (await readFile(file, 'utf8')).replace(/ {4}run: echo build-\d+ > \/etc\/build-id\n/, '');
        await writeFile(file, withLastScript(yaml, lastScript()));
      },
      run: (ctx) => runEibCli(project(ctx), ['build', '--quiet']),
    },
    {
      name: 'chroot sh (qemu) + tar|gzip|sha256sum',
      role: 'baseline',
      run: async (ctx) => (await ManualRoot.open(join(ctx.workDir, '..', 'apk-aarch64'), 'aarch64')).runScript(lastScript()),
    },
  ],
  async teardown(ctx) {
    await (await ManualRoot.open(join(ctx.workDir, '..', 'apk-aarch64'), 'aarch64')).reset();
  },
};

const pushRegistry = benchRegistry();

export const pushScenario: Scenario = {
  name: 'push',
  description: 'eib push of the built demo image (3 layers) to a local registry, against skopeo copy',
  async setup(ctx) {
    await builtDemo(ctx);
    await pushRegistry.start();
  },
  contenders: pushContenders(pushRegistry, project),
  teardown: () => pushRegistry.stop(),
};

export const buildScenarios: Scenario[] = [coldBuild('x86_64'), coldBuild('aarch64'), buildNoopScenario, buildLastStageScenario, pushScenario];
