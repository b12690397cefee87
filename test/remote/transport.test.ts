/**
 * TLS trust, plain-http policy, digest verification of what a registry
 * sends, and redirects that must not carry credentials to another host.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { IntegrityError } from '../../src/errors.js';
import { RegistryClient } from '../../src/remote/client.js';
import { RegistryError } from '../../src/remote/errors.js';
import { layoutSource } from '../../src/remote/image-source.js';
import { pullImage, pushImage } from '../../src/remote/push.js';
import { parseReference } from '../../src/remote/reference.js';
import { freePort, makeCa, startRegistry, tempDir, type TestCa } from '../helpers/registry.js';
import { buildImage, type FixtureImage } from './fixture.js';

let image: FixtureImage;
let ca: TestCa;
const cleanup: string[] = [];
const anonymous = { credential: async () => undefined, retryDelayMs: 10 };

before(async () => {
  const dir = tempDir('eib-img-');
  cleanup.push(dir);
  image = await buildImage(dir, { tag: 'v1' });
  ca = makeCa();
  cleanup.push(ca.dir);
});

after(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

test('TLS: a registry signed by an extra CA works with `ca`, and fails clearly without it', async () => {
  const registry = await startRegistry({ tls: ca });
  try {
    const ref = parseReference(`${registry.host}/tls/img:v1`);
    const r = await pushImage(layoutSource(image.dir, 'v1'), ref, { ...anonymous, ca: ca.caFile });
    assert.equal(r.digest, image.manifest.digest);
    await assert.rejects(
      pushImage(layoutSource(image.dir, 'v1'), ref, anonymous),
      (e: unknown) => e instanceof RegistryError && e.code === 'ETLS' && /registry\.ca/.test(e.message) && /NODE_EXTRA_CA_CERTS/.test(e.message),
    );
  } finally {
    await registry.stop();
  }
});

test('plain http is refused for a registry that is neither local nor marked insecure', async () => {
  // 127.0.0.2 is loopback, but not one of the names that may use http unasked.
  const registry = await startRegistry({ host: '127.0.0.2' });
  try {
    const ref = parseReference(`${registry.host}/plain/img:v1`);
    await assert.rejects(
      pushImage(layoutSource(image.dir, 'v1'), ref, anonymous),
      (e: unknown) => e instanceof RegistryError && e.code === 'EINSECURE' && /registry\.insecure: true/.test(e.message),
    );
    const r = await pushImage(layoutSource(image.dir, 'v1'), ref, { ...anonymous, insecure: true });
    assert.equal(r.digest, image.manifest.digest);
  } finally {
    await registry.stop();
  }
});

/** A fake registry for the one fault a real one will not produce: content that does not match its digest. */
async function lyingRegistry(manifest: Buffer, blobs: Map<string, Buffer>): Promise<{ host: string; stop: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/') return void res.writeHead(200).end('{}');
    if (url.includes('/manifests/')) {
      return void res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Docker-Content-Digest': image.manifest.digest }).end(manifest);
    }
    const m = /\/blobs\/(sha256:[0-9a-f]+)$/.exec(url);
    const body = m ? blobs.get(m[1]!) : undefined;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': String(body.length) }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, stop: () => new Promise((r) => server.close(() => r())) };
}

const blob = (digest: string): Buffer => readFileSync(join(image.dir, 'blobs', 'sha256', digest.slice(7)));

test('a blob that does not match its digest is refused and not stored', async () => {
  const blobs = new Map<string, Buffer>();
  for (const d of [image.config, ...image.layers]) blobs.set(d.digest, blob(d.digest));
  const victim = image.layers[1]!;
  const tampered = Buffer.from(blob(victim.digest));
  tampered.writeUInt8(tampered.readUInt8(tampered.length - 10) ^ 0xff, tampered.length - 10);
  blobs.set(victim.digest, tampered);
  const fake = await lyingRegistry(blob(image.manifest.digest), blobs);
  const dir = tempDir('eib-pull-');
  cleanup.push(dir);
  try {
    await assert.rejects(pullImage(parseReference(`${fake.host}/evil/img:v1`), dir, anonymous), (e: unknown) => e instanceof IntegrityError && e.code === 'EINTEGRITY' && e.message.includes(victim.digest));
    assert.equal(existsSync(join(dir, 'blobs', 'sha256', victim.digest.slice(7))), false, 'the bad blob was not stored');
    const leftovers = existsSync(join(dir, 'tmp')) ? readdirSync(join(dir, 'tmp')) : [];
    assert.deepEqual(leftovers, [], 'no temp files left');
  } finally {
    await fake.stop();
  }
});

test('a manifest that does not match the digest it was asked by is refused', async () => {
  const fake = await lyingRegistry(Buffer.from(blob(image.manifest.digest).toString('utf8').replace('"schemaVersion"', ' "schemaVersion"')), new Map());
  const client = new RegistryClient(fake.host, anonymous);
  try {
    await assert.rejects(client.getManifest('evil/img', image.manifest.digest), (e: unknown) => e instanceof IntegrityError && e.code === 'EINTEGRITY');
    await assert.rejects(client.getManifest('evil/img', 'v1'), (e: unknown) => e instanceof IntegrityError, 'by tag, the Docker-Content-Digest header is checked');
  } finally {
    client.close();
    await fake.stop();
  }
});

test('a redirect to another host is followed without the credentials', async () => {
  // The real registry, with Basic auth, redirects blob reads to a storage host.
  const seen: { method: string; authorization: string | undefined }[] = [];
  const storagePort = await freePort();
  let storageRoot = '';
  const storage = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', authorization: req.headers.authorization });
    const path = join(storageRoot, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!existsSync(path)) return void res.writeHead(404).end();
    const body = readFileSync(path);
    res.writeHead(200, { 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((r) => storage.listen(storagePort, '127.0.0.1', r));
  const registry = await startRegistry({ users: { alice: 'redirect-secret' }, redirectBaseUrl: `http://localhost:${storagePort}` });
  storageRoot = registry.storage;
  const credential = async () => ({ username: 'alice', secret: 'redirect-secret', identityToken: false, source: 'test' });
  try {
    const ref = parseReference(`${registry.host}/redir/img:v1`);
    await pushImage(layoutSource(image.dir, 'v1'), ref, { credential });
    const dir = tempDir('eib-pull-');
    cleanup.push(dir);
    const r = await pullImage(ref, dir, { credential });
    assert.equal(r.digest, image.manifest.digest);
    assert.ok(seen.some((s) => s.method === 'GET'), 'blob reads went to the storage host');
    assert.deepEqual(seen.filter((s) => s.authorization !== undefined), [], 'no credentials reached the other host');
    for (const d of image.layers) assert.deepEqual(readFileSync(join(dir, 'blobs', 'sha256', d.digest.slice(7))), blob(d.digest));
  } finally {
    await registry.stop();
    await new Promise((r) => storage.close(r));
  }
});
