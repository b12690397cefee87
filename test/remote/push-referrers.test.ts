/**
 * `eib push` of images built by the real CLI (as the unprivileged user)
 * carries each arch's SBOM referrer to a real distribution 2.8 registry,
 * which has no referrers API: the SBOMs must be findable under the
 * fallback tag sha256-<hex of the subject>. skopeo and curl are the
 * independent readers of what landed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/remote/client.js';
import { listReferrers, referrersTag } from '../../src/remote/referrers.js';
import type { Descriptor, Digest, ImageIndex, ImageManifest } from '../../src/oci/types.js';
import { demoProject } from '../helpers/demo-project.js';
import { runEib, type RunResult } from '../helpers/cli.js';
import { startProxy, startRegistry, tempDir, type TestRegistry } from '../helpers/registry.js';
import { SHARED_ALPINE } from '../helpers/user.js';

const haveShared = existsSync(join(SHARED_ALPINE, 'repo', 'v3.20', 'main', 'aarch64', 'APKINDEX.tar.gz'));
const skip = !haveShared && 'shared/alpine not present';
const SPDX = 'application/spdx+json';
const noCredentials = { credential: async () => undefined, retryDelayMs: 20 };

interface PushJson {
  digest: Digest;
  ref: string;
  referrers: { digest: Digest; artifactType?: string; subject: Digest }[];
}

let registry: TestRegistry;
/** The demo built for aarch64, and for aarch64 + x86_64. */
let single: string;
let multi: string;
const cleanup: string[] = [];

function project(edit: (yaml: string) => string = (y) => y): string {
  const dir = demoProject(edit, 'eib-referrers-');
  cleanup.push(dir);
  return dir;
}

function eib(dir: string, args: string[]): Promise<RunResult> {
  return runEib(args, { cwd: dir, timeoutMs: 600_000 });
}

async function build(dir: string): Promise<void> {
  const r = await eib(dir, ['build', '--json']);
  assert.equal(r.code, 0, `eib build failed:\n${r.stderr}`);
}

async function push(dir: string, ref: string): Promise<PushJson> {
  const r = await eib(dir, ['push', '--json', ref]);
  assert.equal(r.code, 0, `eib push failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as PushJson;
}

async function sbomOf(dir: string, arch?: string): Promise<Buffer> {
  const r = await eib(dir, ['sbom', ...(arch ? ['--arch', arch] : [])]);
  assert.equal(r.code, 0, r.stderr);
  return Buffer.from(r.stdout, 'utf8');
}

/** The manifest or index bytes skopeo reads for `docker://<ref>`. */
function raw(ref: string): Buffer {
  return execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { maxBuffer: 16 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
}

function rawJson<T>(ref: string): T {
  return JSON.parse(raw(ref).toString('utf8')) as T;
}

/** A blob as plain HTTP gives it (curl, not eib's client). */
function blob(repository: string, digest: string): Buffer {
  return execFileSync('curl', ['-sfL', `${registry.url}/v2/${repository}/blobs/${digest}`], { maxBuffer: 64 << 20 });
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Check one arch's referrer as a user would: fallback tag → SBOM manifest → subject and document. */
function checkSbomReferrer(repository: string, subject: Digest, sbom: Buffer): Descriptor {
  const fallback = rawJson<ImageIndex>(`${registry.host}/${repository}:sha256-${subject.slice('sha256:'.length)}`);
  assert.equal(fallback.mediaType, 'application/vnd.oci.image.index.v1+json');
  const sboms = fallback.manifests.filter((m) => m.artifactType === SPDX);
  assert.equal(sboms.length, 1, `one SBOM listed for ${subject}: ${JSON.stringify(fallback.manifests)}`);
  const listed = sboms[0]!;
  assert.equal(listed.mediaType, 'application/vnd.oci.image.manifest.v1+json');

  const manifestBytes = raw(`${registry.host}/${repository}@${listed.digest}`);
  assert.equal(sha256(manifestBytes), listed.digest);
  assert.equal(manifestBytes.length, listed.size);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
  assert.equal(manifest.artifactType, SPDX);
  assert.deepEqual(listed.annotations, manifest.annotations, 'the listing carries the manifest annotations');
  assert.equal(manifest.subject?.digest, subject);
  const subjectBytes = raw(`${registry.host}/${repository}@${subject}`);
  assert.equal(manifest.subject.size, subjectBytes.length, 'the subject descriptor matches the pushed image manifest');

  const layer = manifest.layers.find((l) => l.mediaType === SPDX);
  assert.ok(layer, 'the SBOM manifest has an SPDX layer');
  const document = blob(repository, layer.digest);
  assert.equal(document.toString('utf8'), sbom.toString('utf8'), 'the pushed document is what eib sbom prints');
  return listed;
}

before(async () => {
  registry = await startRegistry();
  if (skip) return;
  single = project();
  multi = project((y) => y.replace(/^arch: aarch64$/m, 'arch: [aarch64, x86_64]'));
  await Promise.all([build(single), build(multi)]);
});

after(async () => {
  await registry.stop();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

test('eib push sends the SBOM referrer and lists it under the fallback tag of the image manifest', { skip }, async () => {
  const pushed = await push(single, `${registry.host}/sbom/demo:v1`);
  const manifest = rawJson<ImageManifest>(`${registry.host}/sbom/demo:v1`);
  assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(sha256(raw(`${registry.host}/sbom/demo:v1`)), pushed.digest);

  const listed = checkSbomReferrer('sbom/demo', pushed.digest, await sbomOf(single));
  assert.deepEqual(pushed.referrers, [{ digest: listed.digest, artifactType: SPDX, subject: pushed.digest }], '--json lists the referrer');

  const client = new RegistryClient(registry.host, noCredentials);
  try {
    const list = await listReferrers(client, 'sbom/demo', pushed.digest);
    assert.equal(list.via, 'tag', 'distribution 2.8 has no referrers API');
    assert.deepEqual(list.manifests, [listed]);
    assert.deepEqual(await listReferrers(client, 'sbom/demo', listed.digest), { via: 'tag', manifests: [] }, 'no fallback tag: no referrers');
  } finally {
    client.close();
  }
});

test('pushing again changes nothing: no upload, no tag rewritten, no duplicate entry', { skip }, async () => {
  const first = await push(single, `${registry.host}/sbom/again:v1`);
  const tag = `${registry.host}/sbom/again:${referrersTag(first.digest)}`;
  const before = raw(tag);
  const proxy = await startProxy(registry.host);
  try {
    const second = await push(single, `${proxy.host}/sbom/again:v1`);
    assert.deepEqual(second.referrers, first.referrers);
    const writes = proxy.requests.filter((r) => r.method === 'POST' || r.method === 'PATCH' || (r.method === 'PUT' && r.url.includes('/manifests/sha256-')));
    assert.deepEqual(writes, [], 'no blob upload and no write of the fallback tag');
    assert.ok(proxy.requests.some((r) => r.method === 'PUT' && r.url === `/v2/sbom/again/manifests/${second.referrers[0]!.digest}`), 'the referrer manifest is put by digest');
  } finally {
    await proxy.stop();
  }
  assert.deepEqual(raw(tag), before, 'the fallback index is byte for byte the same');
});

test('the fallback index is merged: other referrers are kept, a stale copy of the SBOM entry is replaced', { skip }, async () => {
  const first = await push(single, `${registry.host}/sbom/merge:v1`);
  const subject = first.digest;
  const sbomEntry = rawJson<ImageIndex>(`${registry.host}/sbom/merge:${referrersTag(subject)}`).manifests[0]!;
  const client = new RegistryClient(registry.host, noCredentials);
  let signature: Descriptor;
  try {
    // Another tool's referrer (a signature), listed before eib's entry, whose annotations went stale.
    const empty = Buffer.from('{}');
    const sig = Buffer.from('not really a signature\n');
    for (const b of [empty, sig]) await client.pushBlob('sbom/merge', { digest: sha256(b) as Digest, size: b.length, open: () => Readable.from([b]) });
    const subjectBytes = raw(`${registry.host}/sbom/merge@${subject}`);
    const sigManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.signature',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: empty.length },
        layers: [{ mediaType: 'application/vnd.example.signature', digest: sha256(sig), size: sig.length }],
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: subject, size: subjectBytes.length },
      }),
    );
    const sigDigest = await client.putManifest('sbom/merge', sha256(sigManifest), sigManifest, 'application/vnd.oci.image.manifest.v1+json');
    signature = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sigDigest, size: sigManifest.length, artifactType: 'application/vnd.example.signature' };
    const stale = { ...sbomEntry, annotations: { 'org.example.stale': 'yes' } };
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [signature, stale] }));
    await client.putManifest('sbom/merge', referrersTag(subject), index, 'application/vnd.oci.image.index.v1+json');
  } finally {
    client.close();
  }

  const second = await push(single, `${registry.host}/sbom/merge:v1`);
  const merged = rawJson<ImageIndex>(`${registry.host}/sbom/merge:${referrersTag(subject)}`);
  assert.deepEqual(merged.manifests, [signature, sbomEntry], 'the signature kept in place, the SBOM entry restored, nothing duplicated');
  assert.deepEqual(
    second.referrers.map((r) => [r.digest, r.artifactType]),
    [
      [signature.digest, 'application/vnd.example.signature'],
      [sbomEntry.digest, SPDX],
    ],
  );
});

test('a fallback tag that holds something else than an index is reported, not overwritten', { skip }, async () => {
  const first = await push(single, `${registry.host}/sbom/clash:v1`);
  const tag = referrersTag(first.digest);
  const imageManifest = raw(`${registry.host}/sbom/clash:v1`);
  const client = new RegistryClient(registry.host, noCredentials);
  try {
    await client.putManifest('sbom/clash', tag, imageManifest, 'application/vnd.oci.image.manifest.v1+json');
  } finally {
    client.close();
  }
  const r = await eib(single, ['push', `${registry.host}/sbom/clash:v1`]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`the referrers tag [^ ]*sbom/clash:${tag} of ${first.digest} holds application/vnd\\.oci\\.image\\.manifest\\.v1\\+json, not an OCI image index; eib will not overwrite it: delete that tag`));
  assert.deepEqual(raw(`${registry.host}/sbom/clash:${tag}`), imageManifest, 'the tag is left as it was');
});

test('a registry with the referrers API gets the referrer by digest and no fallback tag', { skip }, async () => {
  // A referrers API in front of distribution: answers every subject with an empty list.
  const seen: string[] = [];
  const [host, port] = [registry.host.split(':')[0]!, Number(registry.host.split(':')[1])];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.method === 'GET' && /^\/v2\/.+\/referrers\/sha256:[0-9a-f]{64}$/.test(req.url ?? '')) {
      res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.index.v1+json' }).end('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
      return;
    }
    const up = http.request({ host, port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const apiHost = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const pushed = await push(single, `${apiHost}/sbom/api:v1`);
    assert.deepEqual(pushed.referrers, [], 'the listing is the API answer');
    assert.ok(seen.includes(`GET /v2/sbom/api/referrers/${pushed.digest}`), 'the API was asked');
    assert.ok(!seen.some((s) => s.startsWith('PUT /v2/sbom/api/manifests/sha256-')), 'no fallback tag written');
    const referrer = seen.filter((s) => /^PUT \/v2\/sbom\/api\/manifests\/sha256:/.test(s));
    assert.equal(referrer.length, 1, 'the SBOM manifest was put by digest');
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  const tags = JSON.parse(execFileSync('skopeo', ['list-tags', '--tls-verify=false', `docker://${registry.host}/sbom/api`], { encoding: 'utf8' })) as { Tags: string[] };
  assert.deepEqual(tags.Tags, ['v1']);
});

test('a two-arch image: the index, both manifests and a referrer per arch manifest', { skip }, async () => {
  const pushed = await push(multi, `${registry.host}/sbom/multi:v1`);
  const index = rawJson<ImageIndex>(`${registry.host}/sbom/multi:v1`);
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.equal(sha256(raw(`${registry.host}/sbom/multi:v1`)), pushed.digest);
  const byArch = new Map(index.manifests.map((m) => [m.platform?.architecture, m]));
  assert.deepEqual([...byArch.keys()].sort(), ['amd64', 'arm64']);

  const out = tempDir('eib-multi-copy-');
  cleanup.push(out);
  execFileSync('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${registry.host}/sbom/multi:v1`, `oci:${out}:v1`], { stdio: 'pipe' });
  const copied = new Set(readdirSync(join(out, 'blobs', 'sha256')).map((h) => `sha256:${h}`));
  for (const m of index.manifests) assert.ok(copied.has(m.digest), `skopeo copied the ${m.platform?.architecture} manifest`);

  const expected: PushJson['referrers'] = [];
  for (const [platform, arch] of [['arm64', 'aarch64'], ['amd64', 'x86_64']] as const) {
    const child = byArch.get(platform)!;
    const listed = checkSbomReferrer('sbom/multi', child.digest, await sbomOf(multi, arch));
    expected.push({ digest: listed.digest, artifactType: SPDX, subject: child.digest });
  }
  const sortBySubject = (a: { subject: string }, b: { subject: string }): number => a.subject.localeCompare(b.subject);
  assert.deepEqual([...pushed.referrers].sort(sortBySubject), expected.sort(sortBySubject), '--json lists one SBOM per arch manifest');
  assert.throws(() => raw(`${registry.host}/sbom/multi:${referrersTag(pushed.digest)}`), 'the index itself has no referrers tag');
});
