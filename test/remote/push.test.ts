/**
 * Push and pull against a real distribution registry; skopeo is the
 * independent reader that checks what landed, byte for byte.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryClient } from '../../src/remote/client.js';
import { layoutSource } from '../../src/remote/image-source.js';
import { pullImage, pushImage, type TransferProgress } from '../../src/remote/push.js';
import { parseReference } from '../../src/remote/reference.js';
import { startProxy, startRegistry, tempDir, type TestRegistry } from '../helpers/registry.js';
import { buildImage, type FixtureImage } from './fixture.js';

let registry: TestRegistry;
let image: FixtureImage;
const cleanup: string[] = [];
const noCredentials = { credential: async () => undefined, retryDelayMs: 20 };

before(async () => {
  registry = await startRegistry();
  const dir = tempDir('eib-img-');
  cleanup.push(dir);
  image = await buildImage(dir, { tag: 'v1' });
});

after(async () => {
  await registry.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

function skopeo(args: string[]): Buffer {
  return execFileSync('skopeo', [...args], { maxBuffer: 64 << 20 });
}

function blobBytes(dir: string, digest: string): Buffer {
  return readFileSync(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}

test('a pushed image reads back identically with skopeo', async () => {
  const events: TransferProgress[] = [];
  const ref = parseReference(`${registry.host}/team/rootfs:v1`);
  const result = await pushImage(layoutSource(image.dir, 'v1'), ref, { ...noCredentials, onProgress: (e) => events.push(e) });
  assert.equal(result.digest, image.manifest.digest);
  assert.equal(result.ref, `${registry.host}/team/rootfs:v1`);

  const raw = skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/team/rootfs:v1`]);
  assert.deepEqual(raw, blobBytes(image.dir, image.manifest.digest), 'manifest bytes are unchanged');

  const out = tempDir('eib-skopeo-');
  cleanup.push(out);
  skopeo(['copy', '--src-tls-verify=false', `docker://${registry.host}/team/rootfs:v1`, `oci:${out}:v1`]);
  for (const d of [image.config, ...image.layers]) {
    assert.deepEqual(blobBytes(out, d.digest), blobBytes(image.dir, d.digest), `blob ${d.digest}`);
  }
  const uploaded = new Set(events.filter((e) => e.state === 'uploaded').map((e) => e.digest));
  assert.equal(uploaded.size, 4, 'config and three layers uploaded');
  for (const d of image.layers) assert.ok(events.some((e) => e.digest === d.digest && e.state === 'uploading' && e.bytes === d.size), 'byte progress reaches the size');
});

test('pushing again uploads nothing: one HEAD per blob, then the manifest', async () => {
  const ref = parseReference(`${registry.host}/team/again:v1`);
  await pushImage(layoutSource(image.dir, 'v1'), ref, noCredentials);
  const proxy = await startProxy(registry.host);
  try {
    const viaProxy = parseReference(`${proxy.host}/team/again:v1`);
    const events: TransferProgress[] = [];
    await pushImage(layoutSource(image.dir, 'v1'), viaProxy, { ...noCredentials, onProgress: (e) => events.push(e) });
    const calls = proxy.requests.map((r) => `${r.method} ${r.url.replace(/sha256:[0-9a-f]+/, 'D')}`);
    assert.deepEqual(calls.filter((c) => !c.startsWith('GET /v2/ ') && c !== 'GET /v2/'), [
      ...Array(4).fill('HEAD /v2/team/again/blobs/D'),
      'PUT /v2/team/again/manifests/v1',
    ]);
    assert.equal(proxy.requests.reduce((n, r) => n + r.bodyBytes, 0), blobBytes(image.dir, image.manifest.digest).length, 'only the manifest was sent');
    assert.equal(events.filter((e) => e.state === 'exists').length, 4);
  } finally {
    await proxy.stop();
  }
});

test('blobs known in another repository of the registry are mounted, not uploaded', async () => {
  const client = new RegistryClient(registry.host, noCredentials);
  try {
    await pushImage(layoutSource(image.dir, 'v1'), parseReference(`${registry.host}/mount/source:v1`), { client });
    const events: TransferProgress[] = [];
    await pushImage(layoutSource(image.dir, 'v1'), parseReference(`${registry.host}/mount/target:v1`), { client, onProgress: (e) => events.push(e) });
    assert.equal(events.filter((e) => e.state === 'mounted').length, 4, JSON.stringify(events.map((e) => e.state)));
    assert.equal(events.filter((e) => e.state === 'uploading').length, 0);
  } finally {
    client.close();
  }
  const raw = skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/mount/target:v1`]);
  assert.deepEqual(raw, blobBytes(image.dir, image.manifest.digest));
});

test('a chunked upload interrupted between chunks resumes where the registry stopped', async () => {
  const dir = tempDir('eib-big-');
  cleanup.push(dir);
  const big = await buildImage(dir, { tag: 'big', layerSizes: [300_000] });
  const layer = big.layers[0]!;
  const proxy = await startProxy(registry.host);
  let patches = 0;
  proxy.decide = (req) => (req.method === 'PATCH' && ++patches === 3 ? { drop: 'before' } : { forward: true });
  try {
    const ref = parseReference(`${proxy.host}/chunked/resume:big`);
    await pushImage(layoutSource(dir, 'big'), ref, { ...noCredentials, chunkThreshold: 64 * 1024, chunkSize: 64 * 1024 });
    const patchBytes = proxy.requests.filter((r) => r.method === 'PATCH').reduce((n, r) => n + r.bodyBytes, 0);
    assert.equal(patchBytes, layer.size, 'every byte was sent exactly once');
    assert.ok(proxy.requests.some((r) => r.method === 'GET' && r.url.includes('/blobs/uploads/')), 'the client asked for the upload status');
    const sessions = new Set(proxy.requests.filter((r) => r.method === 'PATCH').map((r) => r.url.split('?')[0]));
    assert.equal(sessions.size, 1, 'one upload session, resumed');
  } finally {
    await proxy.stop();
  }
  const out = tempDir('eib-skopeo-');
  cleanup.push(out);
  skopeo(['copy', '--src-tls-verify=false', `docker://${registry.host}/chunked/resume:big`, `oci:${out}:big`]);
  assert.deepEqual(blobBytes(out, layer.digest), blobBytes(dir, layer.digest));
});

test('a chunk dropped half-way still ends in a complete, verified blob', async () => {
  const dir = tempDir('eib-big-');
  cleanup.push(dir);
  const big = await buildImage(dir, { tag: 'big', layerSizes: [300_000] });
  const proxy = await startProxy(registry.host);
  let patches = 0;
  proxy.decide = (req) => (req.method === 'PATCH' && ++patches === 2 ? { drop: 'midway', afterBytes: 20_000 } : { forward: true });
  try {
    await pushImage(layoutSource(dir, 'big'), parseReference(`${proxy.host}/chunked/midway:big`), { ...noCredentials, chunkThreshold: 64 * 1024, chunkSize: 64 * 1024 });
  } finally {
    await proxy.stop();
  }
  const out = tempDir('eib-skopeo-');
  cleanup.push(out);
  skopeo(['copy', '--src-tls-verify=false', `docker://${registry.host}/chunked/midway:big`, `oci:${out}:big`]);
  assert.deepEqual(blobBytes(out, big.layers[0]!.digest), blobBytes(dir, big.layers[0]!.digest));
});

test('5xx and 429 answers are retried with backoff', async () => {
  const proxy = await startProxy(registry.host);
  let faults = 0;
  proxy.decide = (req) => {
    if (req.method === 'HEAD' && faults < 2) {
      faults++;
      return faults === 1 ? { status: 503 } : { status: 429, headers: { 'Retry-After': '0' } };
    }
    return { forward: true };
  };
  try {
    const r = await pushImage(layoutSource(image.dir, 'v1'), parseReference(`${proxy.host}/retry/me:v1`), noCredentials);
    assert.equal(r.digest, image.manifest.digest);
    assert.equal(faults, 2);
  } finally {
    await proxy.stop();
  }
});

test('one retry budget per blob push: a HEAD whose connection always drops is tried maxAttempts times in all, not per level', async () => {
  const proxy = await startProxy(registry.host);
  proxy.decide = (req) => (req.method === 'HEAD' ? { drop: 'before' } : { forward: true });
  try {
    await assert.rejects(pushImage(layoutSource(image.dir, 'v1'), parseReference(`${proxy.host}/budget/me:v1`), { ...noCredentials, concurrency: 1, maxAttempts: 4 }), (e: Error) => /socket hang up|ECONNRESET/.test(e.message));
    assert.equal(proxy.requests.filter((r) => r.method === 'HEAD').length, 4, 'the first blob: 4 attempts, then the push fails');
  } finally {
    await proxy.stop();
  }
});

test('pullImage writes a verified OCI layout that umoci and skopeo accept', async () => {
  await pushImage(layoutSource(image.dir, 'v1'), parseReference(`${registry.host}/pull/me:v1`), noCredentials);
  const dir = tempDir('eib-pull-');
  cleanup.push(dir);
  const r = await pullImage(parseReference(`${registry.host}/pull/me:v1`), dir, noCredentials);
  assert.equal(r.digest, image.manifest.digest);
  for (const d of [image.manifest, image.config, ...image.layers]) assert.deepEqual(blobBytes(dir, d.digest), blobBytes(image.dir, d.digest));
  const inspected = JSON.parse(skopeo(['inspect', `oci:${dir}:v1`]).toString('utf8')) as { Digest: string };
  assert.equal(inspected.Digest, image.manifest.digest);
  const listed = execFileSync('umoci', ['ls', '--layout', dir], { encoding: 'utf8' });
  assert.match(listed, /^v1$/m);
});
