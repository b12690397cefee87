/**
 * A damaged cache is detected and never reused. On one built demo project
 * (x86_64, with an epoch), each kind of damage in turn: a layer blob of the
 * wrong size, an empty checkpoint record, a snapshot that no longer matches
 * its layer, a layout blob with one byte flipped. The cheap checks of a
 * build or an export stop with the damaged file's name and the repair
 * command; `eib cache verify` drops the damage; the next build redoes
 * exactly the damaged stage and gives the original digest, and every blob
 * of the layout hashes to its name again (checked here with sha256, not eib).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib, type RunResult } from '../helpers/cli.js';
import { demoProject } from '../helpers/demo-project.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const skip = !existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'x86_64', 'APKINDEX.tar.gz')) && 'shared/alpine not present';

interface Built {
  digest: string;
  stages: { name: string; key: string; layer: string | null; cached: boolean }[];
}

const REPAIR = /it is damaged; run `eib cache verify` to drop what is damaged, then `eib build`/;

test('damaged blobs, records, snapshots and layout blobs are reported, dropped by eib cache verify, and rebuilt exactly', { skip, timeout: 300_000 }, async () => {
  const dir = demoProject((y) => y.replace(/^arch: aarch64$/m, 'arch: x86_64').replace(/^name: demo$/m, 'name: demo\nepoch: 1700000000'), 'eib-damage-');
  const cache = join(dir, '.cache', 'eib');
  const eib = (args: string[]): Promise<RunResult> => runEib(args, { cwd: dir });
  const build = async (): Promise<Built> => {
    const r = await eib(['build', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Built;
  };
  const blobPath = (root: string, digest: string): string => join(root, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const layoutWhole = (): void => {
    const blobs = join(dir, 'out', 'oci', 'blobs', 'sha256');
    for (const name of readdirSync(blobs)) assert.equal(createHash('sha256').update(readFileSync(join(blobs, name))).digest('hex'), name, `layout blob ${name} is whole`);
  };
  const repair = async (expectDropped: RegExp): Promise<void> => {
    const r = await eib(['cache', 'verify']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, expectDropped);
  };
  const rebuiltOnly = async (stage: string): Promise<void> => {
    const again = await build();
    assert.equal(again.digest, first.digest, 'the repaired build gives the original digest');
    assert.deepEqual(again.stages.filter((s) => !s.cached).map((s) => s.name), [stage], `only ${stage} was built again`);
    layoutWhole();
  };

  const first = await build();
  const stage = (name: string): Built['stages'][number] => first.stages.find((s) => s.name === name)!;
  const clean = await eib(['cache', 'verify']);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /nothing is damaged/);

  // A layer blob whose size is not its record's.
  const pruneBlob = blobPath(cache, stage('prune').layer!);
  appendFileSync(pruneBlob, 'junk');
  const sized = await eib(['build']);
  assert.equal(sized.code, 1);
  assert.ok(sized.stderr.includes(`${pruneBlob} has`), sized.stderr);
  assert.match(sized.stderr, REPAIR);
  await repair(/dropped .*blobs\/sha256\/.*hashes to/);
  await rebuiltOnly('prune');

  // An empty record, as a crash before the data reached the disk would leave.
  const record = join(cache, 'checkpoints', `${stage('configure').key}.json`);
  writeFileSync(record, '');
  const empty = await eib(['build']);
  assert.equal(empty.code, 1);
  assert.ok(empty.stderr.includes(`${record} is empty`), empty.stderr);
  assert.match(empty.stderr, REPAIR);
  await repair(/dropped .*checkpoints\/.*\.json: the record is empty/);
  await rebuiltOnly('configure');

  // A snapshot changed behind eib's back (only the full check can see it).
  appendFileSync(join(cache, 'snapshots', stage('base').key, 'etc', 'alpine-release'), 'tampered\n');
  await repair(/dropped .*: the snapshot .* differs from its layer/);
  await rebuiltOnly('base');

  // One byte flipped in a layout blob (a hard link of the cache's): export names it.
  const layoutBlob = blobPath(join(dir, 'out', 'oci'), stage('configure').layer!);
  const bytes = readFileSync(layoutBlob);
  const middle = bytes.length >> 1;
  bytes[middle] = bytes[middle]! ^ 0xff;
  writeFileSync(layoutBlob, bytes);
  const exported = await eib(['export', 'rootfs.tar']);
  assert.equal(exported.code, 1);
  assert.ok(exported.stderr.includes(`${layoutBlob} hashes to`), exported.stderr);
  assert.match(exported.stderr, REPAIR);
  await repair(/dropped .*out\/oci\/blobs\/sha256\//);
  await rebuiltOnly('configure');
  const fixed = await eib(['export', 'rootfs.tar']);
  assert.equal(fixed.code, 0, fixed.stderr);
});
