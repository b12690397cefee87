/**
 * SLOW (about 20 s): `eib gc` SIGKILLed (its whole process tree) while it
 * removes checkpoints and snapshots and at a seeded random moment. After
 * each kill `eib ls` lists only whole checkpoints and no blob is corrupt;
 * the next `eib gc` leaves the cache exactly as an uninterrupted gc of a
 * copy of it does, and the image's stages are still cached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlobStore } from '../../src/store/blob-store.js';
import { EIB_BIN, runEib } from '../helpers/cli.js';
import { asUser, testUser, killAsUser } from '../helpers/user.js';
import type { BuildFile } from '../helpers/apk-builder.js';
import { prng } from './mutate.js';
import { cacheContents, makeProject, projectYaml, removeCanaries, writeRepo, type Project } from './project.js';

const STAGES = `  - name: base
    packages: [many-a]
  - name: more
    packages: [many-b]
`;

/** Many small files, so removing a snapshot takes long enough to be killed in the middle. */
function many(seed: string, version: string, count: number): BuildFile[] {
  const out: BuildFile[] = [{ path: 'usr/' }, { path: 'usr/share/' }, { path: `usr/share/${seed}/` }];
  for (let i = 0; i < count; i++) out.push({ path: `usr/share/${seed}/f${i}`, content: Buffer.from(`${seed} ${version} ${i}\n`) });
  return out;
}

async function repo(project: Project, version: string): Promise<void> {
  await writeRepo(project, [
    { name: 'many-a', version, files: many('a', version, 1500) },
    { name: 'many-b', version, files: many('b', version, 1500) },
  ]);
}

/** `eib gc` as the test user; SIGKILLed with everything under it once `reached` says so (or after `delayMs`). */
async function killedGc(project: Project, reached: () => boolean, delayMs: number): Promise<boolean> {
  const user = testUser();
  const env = ['env', '-i', `PATH=${process.env['PATH']}`, `HOME=${user.home}`, 'NO_COLOR=1', `XDG_CACHE_HOME=${join(project.dir, '.cache')}`];
  const argv = [...asUser(), ...env, process.execPath, EIB_BIN, 'gc'];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: project.dir, stdio: 'ignore' });
  const closed = new Promise((r) => child.once('close', r));
  const deadline = Date.now() + delayMs;
  while (child.exitCode === null && Date.now() < deadline && !reached()) await new Promise((r) => setTimeout(r, 2));
  const killed = killAsUser(child);
  await closed;
  return killed;
}

async function checkWhole(project: Project, after: string): Promise<void> {
  const r = await runEib(['ls', '--json'], { cwd: project.dir });
  assert.equal(r.code, 0, `${after}: eib ls: ${r.stderr}`);
  const cache = cacheContents(project.cache);
  for (const row of JSON.parse(r.stdout) as { key: string }[]) assert.ok(cache.snapshots.includes(row.key), `${after}: checkpoint ${row.key} has its snapshot`);
  const bad = (await new BlobStore(project.cache).verify()).filter((c) => !c.ok);
  assert.deepEqual(bad, [], `${after}: no corrupt blob`);
}

test('SLOW: gc SIGKILLed while removing leaves whole checkpoints; the next gc gives what an uninterrupted gc gives', { timeout: 180_000 }, async () => {
  const project = makeProject(STAGES);
  try {
    writeFileSync(join(project.dir, 'eib.yaml'), projectYaml(STAGES, 'epoch: 1700000000\n'));
    await repo(project, '1.0-r0');
    assert.equal((await runEib(['build'], { cwd: project.dir })).code, 0);
    // A new version of both packages: the first build's two checkpoints become garbage.
    await repo(project, '2.0-r0');
    const built = await runEib(['build'], { cwd: project.dir });
    assert.equal(built.code, 0, built.stderr);
    const before = cacheContents(project.cache);
    assert.equal(before.checkpoints.length, 4);

    // The reference: an uninterrupted gc of a copy of the cache.
    const reference = join(project.dir, 'reference-cache');
    execFileSync('cp', ['-a', join(project.dir, '.cache'), reference]);
    const clean = await runEib(['gc'], { cwd: project.dir, env: { XDG_CACHE_HOME: reference } });
    assert.equal(clean.code, 0, clean.stderr);
    const expected = cacheContents(join(reference, 'eib'));
    assert.equal(expected.checkpoints.length, 2, 'the reference gc removed the old checkpoints');

    const random = prng(18);
    const snapshots = (): number => cacheContents(project.cache).snapshots.length;
    const records = (): number => cacheContents(project.cache).checkpoints.length;
    const points: [string, () => boolean, number][] = [
      ['a record removed', () => records() < before.checkpoints.length, 60_000],
      ['a seeded random moment', () => false, 200 + Math.floor(random() * 600)],
    ];
    const killed: string[] = [];
    for (const [name, reached, delayMs] of points) {
      if (await killedGc(project, reached, delayMs)) killed.push(name);
      await checkWhole(project, `after a kill at ${name}`);
    }
    assert.ok(killed.includes('a record removed'), `gc was killed while removing: ${killed.join(', ')}`);
    assert.ok(snapshots() >= expected.snapshots.length);

    const gc = await runEib(['gc'], { cwd: project.dir });
    assert.equal(gc.code, 0, gc.stderr);
    assert.deepEqual(cacheContents(project.cache), expected, 'the gc after the kills leaves what an uninterrupted gc leaves');
    const again = await runEib(['build', '--json'], { cwd: project.dir });
    assert.equal(again.code, 0, again.stderr);
    assert.ok((JSON.parse(again.stdout) as { stages: { cached: boolean }[] }).stages.every((s) => s.cached), 'the image stages survived');
  } finally {
    removeCanaries(project);
  }
});
