/** `eib push` as a user runs it: the built CLI, as the unprivileged test user, against a real registry. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEib } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { testUser, userTempDir } from '../helpers/user.js';
import { buildImage, type FixtureImage } from './fixture.js';

let registry: TestRegistry;

before(async () => {
  registry = await startRegistry();
});

after(async () => {
  await registry.stop();
});

const HEAD = `name: demo
arch: aarch64
alpine:
  repositories: [https://dl-cdn.alpinelinux.org/alpine/v3.20/main]
  allow-untrusted: true
stages:
  - name: base
    packages: [busybox]
outputs:
  oci: out/oci
  tag: v1
`;

function chownTree(path: string): void {
  const user = testUser();
  if (user.self) return;
  chownSync(path, user.uid, user.gid);
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name));
}

async function project(registryRef?: string, withImage = true): Promise<{ dir: string; image?: FixtureImage }> {
  const dir = userTempDir();
  writeFileSync(join(dir, 'eib.yaml'), `${HEAD}${registryRef ? `registry:\n  ref: ${registryRef}\n` : ''}`);
  const image = withImage ? await buildImage(join(dir, 'out', 'oci'), { tag: 'v1' }) : undefined;
  chownTree(dir);
  return image ? { dir, image } : { dir };
}

test('eib push sends the built image to registry.ref; --json prints digest and ref', async () => {
  const { dir, image } = await project(`${registry.host}/cli/demo:v1`);
  const r = await runEib(['push', '--json'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { digest: image!.manifest.digest, ref: `${registry.host}/cli/demo:v1`, referrers: [] });
  assert.match(r.stderr, /sha256:[0-9a-f]{12} pushed \(/, 'one progress line per blob');
  assert.equal((r.stderr.match(/ pushed \(/g) ?? []).length, 4);
  const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/cli/demo:v1`]);
  assert.equal(JSON.parse(raw.toString('utf8')).layers.length, 3);

  const again = await runEib(['push', `${registry.host}/cli/other:v2`], { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^pushed ${registry.host.replace(/\./g, '\\.')}/cli/other:v2@${image!.manifest.digest}$`, 'm'));
});

test('eib push without REF or registry.ref exits 2 and names what to set', async () => {
  const { dir } = await project();
  const r = await runEib(['push'], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /no registry to push to: .*set registry\.ref in .*eib\.yaml/);
});

test('eib push before eib build says to build first', async () => {
  const { dir } = await project(`${registry.host}/cli/demo:v1`, false);
  const r = await runEib(['push'], { cwd: dir });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`no image tagged v1 in ${join(dir, 'out', 'oci')}; run eib build first`));
});

test('eib push with an invalid REF exits 2 naming it', async () => {
  const { dir } = await project();
  const r = await runEib(['push', 'Not A Ref'], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /invalid image reference "Not A Ref"/);
});
