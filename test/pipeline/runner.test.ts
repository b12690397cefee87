/**
 * The pure core of the build runner, without namespaces: cache keys (what
 * changes a key and what does not), the rootfs path guard, and the cache
 * decisions of a build, with a stage runner that only records its calls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config, type Stage } from '../../src/config/index.js';
import { stageCacheKey, type StageKeyInput } from '../../src/pipeline/cache-key.js';
import { build, type StageRunner } from '../../src/pipeline/pipeline.js';
import { resolveInRoot, rootComponents } from '../../src/pipeline/rootfs-path.js';
import type { StageTaskPayload } from '../../src/pipeline/stage-task.js';
import { REPO_ROOT, SHARED_ALPINE } from '../helpers/user.js';

const tmp = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));

function stage(overrides: Partial<Stage> = {}): Stage {
  return { name: 'configure', packages: [], files: [], hostRun: [], run: [], remove: [], env: {}, network: false, ...overrides } as Stage;
}

test('a cache key changes with every input it covers, and not with where the project is checked out', async () => {
  const project = tmp('eib-key-');
  mkdirSync(join(project, 'overlay', 'etc'), { recursive: true });
  writeFileSync(join(project, 'overlay', 'etc', 'motd'), 'hello\n');
  writeFileSync(join(project, 'fix.sh'), 'echo fix\n');
  const make = (dir: string): StageKeyInput => ({
    parent: 'a'.repeat(64),
    configDir: dir,
    arch: 'aarch64',
    epoch: 1_700_000_000,
    packages: [{ name: 'busybox', version: '1.36.1-r29', checksum: 'Q1abc=' }],
    stage: stage({ files: [{ src: join(dir, 'overlay') + '/', dest: '/' }], hostRun: [{ file: join(dir, 'fix.sh') }], run: [{ inline: 'echo hi' }], env: { A: '1' } } as Partial<Stage>),
  });
  const base = await stageCacheKey(make(project));
  assert.match(base.key, /^[0-9a-f]{64}$/);
  assert.deepEqual(Object.keys(base.inputs.hostFiles).sort(), ['fix.sh', 'overlay/etc/motd']);

  // The same project elsewhere: the same key.
  const moved = tmp('eib-key-moved-');
  cpSync(project, moved, { recursive: true });
  assert.equal((await stageCacheKey(make(moved))).key, base.key);

  const keyOf = async (change: (i: StageKeyInput) => StageKeyInput): Promise<string> => (await stageCacheKey(change(make(project)))).key;
  const variants: [string, (i: StageKeyInput) => StageKeyInput][] = [
    ['parent', (i) => ({ ...i, parent: 'b'.repeat(64) })],
    ['arch', (i) => ({ ...i, arch: 'x86_64' })],
    ['epoch', (i) => ({ ...i, epoch: 1_700_000_001 })],
    ['no epoch', ({ epoch: _, ...i }) => i],
    ['package checksum', (i) => ({ ...i, packages: [{ name: 'busybox', version: '1.36.1-r29', checksum: 'Q1abd=' }] })],
    ['env', (i) => ({ ...i, stage: { ...i.stage, env: { A: '2' } } })],
    ['network', (i) => ({ ...i, stage: { ...i.stage, network: true } })],
    ['inline script', (i) => ({ ...i, stage: { ...i.stage, run: [{ inline: 'echo ho' }] } })],
    ['remove', (i) => ({ ...i, stage: { ...i.stage, remove: ['/usr/share/man'] } })],
  ];
  const seen = new Map<string, string>([[base.key, 'base']]);
  for (const [what, change] of variants) {
    const key = await keyOf(change);
    assert.equal(seen.get(key), undefined, `${what} gives the key of ${seen.get(key)}`);
    seen.set(key, what);
  }
  // Host file content and mode are read, not just named.
  writeFileSync(join(project, 'overlay', 'etc', 'motd'), 'changed\n');
  const content = await keyOf((i) => i);
  assert.ok(!seen.has(content), 'file content');
  chmodSync(join(project, 'fix.sh'), 0o755);
  assert.notEqual(await keyOf((i) => i), content, 'file mode');
});

test('paths in the rootfs resolve symlinks as a chroot would: absolute links start at the root, .. stops at its top', async () => {
  const root = tmp('eib-rootfs-');
  mkdirSync(join(root, 'usr', 'lib'), { recursive: true });
  symlinkSync('/usr/lib', join(root, 'lib'));
  symlinkSync('../../../../etc', join(root, 'usr', 'up'));
  symlinkSync('/etc/shadow', join(root, 'shadow-link'));
  symlinkSync('loop-b', join(root, 'loop-a'));
  symlinkSync('loop-a', join(root, 'loop-b'));
  assert.deepEqual(rootComponents('/a/./b/../../../c'), ['c']);
  assert.equal(await resolveInRoot(root, '/lib/libc.so'), join(root, 'usr', 'lib', 'libc.so'));
  assert.equal(await resolveInRoot(root, '/usr/up/passwd'), join(root, 'etc', 'passwd'));
  assert.equal(await resolveInRoot(root, '/shadow-link'), join(root, 'etc', 'shadow'));
  assert.equal(await resolveInRoot(root, '/shadow-link', false), join(root, 'shadow-link'));
  assert.equal(await resolveInRoot(root, '/missing/dir/file'), join(root, 'missing', 'dir', 'file'));
  await assert.rejects(resolveInRoot(root, '/loop-a/x'), { code: 'ELOOP' });
});

/** The demo project with its repository path made absolute and the cache inside it. */
async function demoConfig(dir: string, edit: (yaml: string) => string = (y) => y): Promise<Config> {
  const yaml = readFileSync(join(REPO_ROOT, 'fixtures', 'demo', 'eib.yaml'), 'utf8').replaceAll('../../../shared/alpine', SHARED_ALPINE);
  writeFileSync(join(dir, 'eib.yaml'), edit(yaml));
  return loadConfig({ path: 'eib.yaml', cwd: dir, env: { HOME: dir, XDG_CACHE_HOME: join(dir, '.cache') } });
}

test('cache decisions without a sandbox: every stage runs once, a rebuild runs none, a changed stage reruns it and those after it', async () => {
  const dir = tmp('eib-runner-');
  cpSync(join(REPO_ROOT, 'fixtures', 'demo'), dir, { recursive: true });
  const calls: StageTaskPayload[] = [];
  const stageRunner: StageRunner = async (payload) => {
    calls.push(payload);
    await mkdir(payload.snapshot, { recursive: true });
    return { layer: null, diffId: null, steps: ['fake'], warnings: [] };
  };
  const run = async (config: Config): Promise<string[]> => {
    calls.length = 0;
    const result = await build(config, { stageRunner, offline: false });
    assert.deepEqual(
      result.arches[0]!.stages.map((s) => s.cached),
      config.stages.map((s) => !calls.some((c) => c.stage.name === s.name)),
    );
    return calls.map((c) => c.stage.name);
  };

  const config = await demoConfig(dir);
  assert.deepEqual(await run(config), ['base', 'configure', 'prune']);
  // Packages are fetched into the cache and handed to the runner; lowers are the earlier snapshots, latest first.
  const names = calls[0]!.packages.map((p) => p.info.name);
  assert.ok(names.includes('busybox') && names.includes('musl'), names.join(' '));
  for (const p of calls[0]!.packages) assert.ok(p.path.startsWith(join(config.cache.dir, 'apk')), p.path);
  assert.deepEqual(calls[2]!.lowers, [calls[1]!.snapshot, calls[0]!.snapshot]);

  assert.deepEqual(await run(config), []);
  assert.deepEqual(await run(await demoConfig(dir, (y) => y.replace('/etc/motd]', '/etc/motd, /etc/issue]'))), ['prune']);
  assert.deepEqual(await run(await demoConfig(dir, (y) => y.replace('echo demo-device', 'echo other-device'))), ['configure', 'prune']);
  // A host file the stage copies is part of its key.
  writeFileSync(join(dir, 'overlay', 'etc', 'motd.d', 'demo'), 'changed\n');
  assert.deepEqual(await run(config), ['configure', 'prune']);
  // A checkpoint whose snapshot is gone is not valid: the stage runs again, the later ones are reused by key.
  rmSync(calls[0]!.snapshot, { recursive: true });
  assert.deepEqual(await run(config), ['configure']);
});
