/**
 * SLOW (about a minute): crashes. `eib build` is SIGKILLed (the whole
 * process tree, as an OOM kill would) at several points of a two-stage
 * build: while stage 1 installs, while its layer blob is written, at a
 * seeded random moment, and while stage 2's layer blob is written. After
 * each kill `eib ls` lists only whole checkpoints (record, snapshot and a
 * blob that verifies) and the blob store's verify() finds no corrupt blob.
 * The next build succeeds and gives the digest of a clean build; `eib gc`
 * then removes the scratch the killed builds left in <cache>/tmp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlobStore } from '../../src/store/blob-store.js';
import { EIB_BIN, runEib } from '../helpers/cli.js';
import { asUser, testUser, killAsUser } from '../helpers/user.js';
import type { BuildFile } from '../helpers/apk-builder.js';
import { prng } from './mutate.js';
import { cacheContents, makeProject, projectYaml, removeCanaries, writeRepo, type Project } from './project.js';

const STAGES = `  - name: base
    packages: [bulk-a]
  - name: more
    packages: [bulk-b]
`;

/** Incompressible content, so gzip takes a while and the kill windows are wide. */
function bulk(seed: string, files: number, size: number): BuildFile[] {
  const out: BuildFile[] = [{ path: 'usr/' }, { path: 'usr/share/' }, { path: `usr/share/${seed}/` }];
  for (let i = 0; i < files; i++) {
    const chunks: Buffer[] = [];
    let block = createHash('sha512').update(`${seed}-${i}`).digest();
    for (let n = 0; n < size; n += block.length) {
      chunks.push(block);
      block = createHash('sha512').update(block).digest();
    }
    out.push({ path: `usr/share/${seed}/blob-${i}`, content: Buffer.concat(chunks).subarray(0, size) });
  }
  return out;
}

interface Build {
  child: ChildProcess;
  /** Settles when the process has closed, even if that happened before anyone waited. */
  closed: Promise<unknown>;
}

function startBuild(project: Project): Build {
  const user = testUser();
  const env = ['env', '-i', `PATH=${process.env['PATH']}`, `HOME=${user.home}`, 'NO_COLOR=1', `XDG_CACHE_HOME=${join(project.dir, '.cache')}`];
  const argv = [...asUser(), ...env, process.execPath, EIB_BIN, 'build'];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: project.dir, stdio: 'ignore' });
  return { child, closed: new Promise((r) => child.once('close', r)) };
}

/** SIGKILL eib and everything under it (runuser's child is eib's node process). */
async function killTree({ child, closed }: Build): Promise<void> {
  killAsUser(child);
  await closed;
}

const scratchHas = (project: Project, test: (scratch: string) => boolean): boolean =>
  cacheContents(project.cache).tmp.some((name) => {
    try {
      return test(join(project.cache, 'tmp', name));
    } catch {
      return false;
    }
  });

interface KillPoint {
  name: string;
  /** True once the build reached the point; undefined: kill after `delayMs`. */
  reached?: (project: Project) => boolean;
  /** Kill this long after the start of a cold build in a project of its own (the others' caches are ahead by then). */
  delayMs?: number;
}

const random = prng(9);
const KILL_POINTS: KillPoint[] = [
  { name: 'stage 1 installing', reached: (p) => scratchHas(p, (s) => existsSync(join(s, 'upper', 'usr'))) },
  { name: 'stage 1 layer blob being written', reached: (p) => cacheContents(p.cache).tmp.some((n) => n.startsWith('blob-')) && cacheContents(p.cache).checkpoints.length === 0 },
  { name: 'stage 2 layer blob being written', reached: (p) => cacheContents(p.cache).tmp.some((n) => n.startsWith('blob-')) && cacheContents(p.cache).checkpoints.length === 1 },
  // Within the first stage or so of a cold build (its install and layer take over a second here).
  { name: 'a seeded random moment', delayMs: 200 + Math.floor(random() * 1000) },
  { name: 'a second seeded random moment', delayMs: 200 + Math.floor(random() * 1000) },
];

async function repoProject(): Promise<Project> {
  const project = makeProject(STAGES);
  writeFileSync(join(project.dir, 'eib.yaml'), projectYaml(STAGES, 'epoch: 1700000000\n'));
  await writeRepo(project, [
    { name: 'bulk-a', version: '1.0-r0', files: bulk('a', 4, 2 << 20) },
    { name: 'bulk-b', version: '1.0-r0', files: bulk('b', 4, 2 << 20) },
  ]);
  return project;
}

async function checkWhole(project: Project, after: string): Promise<void> {
  const r = await runEib(['ls', '--json'], { cwd: project.dir });
  assert.equal(r.code, 0, `${after}: eib ls: ${r.stderr}`);
  const rows = JSON.parse(r.stdout) as { stage: string; key: string }[];
  const cache = cacheContents(project.cache);
  for (const row of rows) assert.ok(cache.snapshots.includes(row.key), `${after}: checkpoint ${row.stage} has its snapshot`);
  assert.ok(cache.checkpoints.every((n) => n.endsWith('.json')), `${after}: no half-written record: ${cache.checkpoints.join(', ')}`);
  const bad = (await new BlobStore(project.cache).verify()).filter((c) => !c.ok);
  assert.deepEqual(bad, [], `${after}: no corrupt blob`);
}

test('SLOW: builds SIGKILLed at five points leave only whole checkpoints; the rebuild matches a clean build; gc clears the scratch', { timeout: 240_000 }, async () => {
  const project = await repoProject();
  const others: Project[] = [];
  try {
    const killed: string[] = [];
    for (const point of KILL_POINTS) {
      const target = point.delayMs === undefined ? project : await repoProject();
      if (target !== project) others.push(target);
      const build = startBuild(target);
      const { child } = build;
      const deadline = Date.now() + (point.delayMs ?? 120_000);
      let reached = false;
      while (child.exitCode === null && Date.now() < deadline) {
        if (point.reached?.(target)) {
          reached = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      const wasRunning = child.exitCode === null;
      await killTree(build);
      if (wasRunning && (reached || point.delayMs !== undefined)) killed.push(point.name);
      await checkWhole(target, `after a kill at ${point.name}`);
    }
    assert.ok(killed.length >= 4, `most kill points were hit: ${killed.join(', ')}`);
    if (process.env['EIB_HOSTILE_SHOW']) process.stderr.write(`killed at: ${killed.join('; ')}\n`);

    const rebuilt = await runEib(['build', '--json'], { cwd: project.dir });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    const digest = (JSON.parse(rebuilt.stdout) as { digest: string }).digest;
    await checkWhole(project, 'after the rebuild');

    const cleanCache = join(project.dir, 'clean-cache');
    const clean = await runEib(['build', '--json'], { cwd: project.dir, env: { XDG_CACHE_HOME: cleanCache } });
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(digest, (JSON.parse(clean.stdout) as { digest: string }).digest, 'the rebuild after crashes reproduces the clean build');

    const gc = await runEib(['gc'], { cwd: project.dir });
    assert.equal(gc.code, 0, gc.stderr);
    assert.deepEqual(cacheContents(project.cache).tmp, [], 'gc removed the scratch of the killed builds');
    const again = await runEib(['build', '--json'], { cwd: project.dir });
    assert.equal(again.code, 0, again.stderr);
    assert.ok((JSON.parse(again.stdout) as { stages: { cached: boolean }[] }).stages.every((s) => s.cached), 'gc kept the checkpoints of the image');
  } finally {
    for (const p of [project, ...others]) removeCanaries(p);
  }
});
