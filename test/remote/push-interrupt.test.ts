/**
 * Interrupted pushes. Once the first blob of a push is sent, SIGINT and
 * SIGTERM stop `eib push` with exit 130 and 143 and the tag is not written;
 * after a SIGKILL of the whole process tree at the same point the next push
 * of the same ref succeeds, and what the registry then holds (read back by
 * skopeo, which checks every digest) equals an uninterrupted push.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EIB_BIN, runEib } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { asUser, testUser, userTempDir, killAsUser } from '../helpers/user.js';
import { buildImage, type FixtureImage } from './fixture.js';

let registry: TestRegistry;
let dir: string;
let image: FixtureImage;

function chownTree(path: string): void {
  const user = testUser();
  if (user.self) return;
  chownSync(path, user.uid, user.gid);
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name));
}

before(async () => {
  registry = await startRegistry();
  dir = userTempDir('eib-push-interrupt-');
  writeFileSync(join(dir, 'eib.yaml'), 'name: demo\narch: aarch64\nalpine:\n  repositories: [https://dl-cdn.alpinelinux.org/alpine/v3.20/main]\n  allow-untrusted: true\nstages:\n  - name: base\n    packages: [busybox]\noutputs:\n  oci: out/oci\n  tag: v1\n');
  // Incompressible layers large enough that the push is still sending when the signal arrives.
  image = await buildImage(join(dir, 'out', 'oci'), { tag: 'v1', layerSizes: [1000, 24 << 20, 24 << 20, 24 << 20] });
  chownTree(dir);
});

after(async () => {
  await registry.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `eib push REF` as the test user, sent `signal` once its first blob is pushed. */
async function interruptedPush(ref: string, signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }> {
  const user = testUser();
  const env = ['env', '-i', `PATH=${process.env['PATH']}`, `HOME=${user.home}`, 'NO_COLOR=1'];
  const argv = [...asUser(), ...env, process.execPath, EIB_BIN, 'push', ref];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const closed = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  let stderr = '';
  await new Promise<void>((resolve) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (/ pushed \(/.test(stderr)) resolve();
    });
    child.once('close', () => resolve());
  });
  if (child.exitCode === null && child.signalCode === null) {
    // Only the processes this test started: eib is runuser's child when the suite runs as root.
    if (signal === 'SIGKILL') killAsUser(child);
    else process.kill(asUser().length > 0 ? Number(execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).trim().split('\n')[0]) : child.pid!, signal);
  }
  const code = await closed;
  return { code, stderr };
}

const tagged = (ref: string): boolean => {
  try {
    execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
};

/** Copy the image out with skopeo (it verifies every blob's digest); its manifest digest. */
function readBack(ref: string): string {
  const out = mkdtempSync(join(tmpdir(), 'eib-push-read-'));
  try {
    execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${out}:x`], { stdio: 'pipe' });
    return execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]).toString('utf8');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

test('SIGINT and SIGTERM stop eib push with 130 and 143 before the tag is written', { timeout: 60_000 }, async () => {
  for (const [signal, exit] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const ref = `${registry.host}/interrupt/${signal.toLowerCase()}:v1`;
    const r = await interruptedPush(ref, signal);
    assert.equal(r.code, exit, `${signal}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`interrupted by ${signal}`));
    assert.equal(tagged(ref), false, `${signal}: the interrupted push wrote no tag`);
  }
});

test('after a SIGKILL mid-push the next push of the same ref succeeds and equals an uninterrupted push', { timeout: 60_000 }, async () => {
  const ref = `${registry.host}/interrupt/killed:v1`;
  const killed = await interruptedPush(ref, 'SIGKILL');
  assert.notEqual(killed.code, 0, 'the push was killed before it finished');
  assert.equal(tagged(ref), false, 'the killed push wrote no tag');

  const again = await runEib(['push', '--json', ref], { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { digest: string }).digest, image.manifest.digest);
  assert.match(again.stderr, / already in the registry/, 'blobs the killed push sent are not sent again');

  const cleanRef = `${registry.host}/interrupt/clean:v1`;
  const clean = await runEib(['push', cleanRef], { cwd: dir });
  assert.equal(clean.code, 0, clean.stderr);
  assert.equal(readBack(ref), readBack(cleanRef), 'the resumed push gives what an uninterrupted one does');
});
