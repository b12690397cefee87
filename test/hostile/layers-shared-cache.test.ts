/**
 * Hostile layers through the shared stage cache, end to end: a real
 * `eib build` (unprivileged user) with cache.registry publishes its stage
 * checkpoint to a real registry; the test then replaces what that tag holds
 * with a consistent checkpoint (record, diff_id and digests all correct)
 * whose layer tries to leave the root: a symlink to /tmp and a file through
 * it, a path climbing out with `..`, a hardlink to a host file. A fresh
 * cache then builds: the fetched layer is unpacked inside the user
 * namespace, where a missed check would write to the host.
 *
 * Each build is refused (exit 1, the message names the shared cache entry
 * and the entry of the layer), no canary outside changes, and the local
 * cache keeps nothing of it: no checkpoint, no snapshot, no layer blob, no
 * scratch. With the tag restored, the same fresh cache builds from the
 * shared cache. unpackLayerToUpper's own cases are in
 * test/remote/shared-cache-unpack.test.ts; this proves the whole path.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Checkpoint } from '../../src/store/checkpoints.js';
import { canonicalJsonBytes } from '../../src/oci/canonical-json.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType, type ImageManifest } from '../../src/oci/types.js';
import { CHECKPOINT_MEDIA_TYPE, checkpointTag } from '../../src/remote/checkpoint-manifest.js';
import { RegistryClient } from '../../src/remote/client.js';
import { runEib } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { cacheContents, canaryDamage, chownToUser, makeProject, projectYaml, removeCanaries, writeRepo, type Project } from './project.js';
import { craftLayer, DEEP, type Entry } from './layers-craft.js';

const REPO = 'team/eib-cache';
const STAGES = `  - name: base
    packages: [good]
`;

interface Built {
  stages: { name: string; key: string; source: string }[];
}

let registry: TestRegistry;
let client: RegistryClient;
let project: Project;
/** The stage's tag and what the first build published under it. */
let published: { tag: string; key: string; manifest: Buffer; record: Checkpoint };

async function build(): Promise<ReturnType<typeof runEib>> {
  return runEib(['build', '--json'], { cwd: project.dir });
}

/** Forget everything local: the next build starts from an empty cache and no image. */
function freshCheckout(): void {
  rmSync(project.cache, { recursive: true, force: true });
  rmSync(join(project.dir, 'out'), { recursive: true, force: true });
}

before(async () => {
  registry = await startRegistry();
  client = new RegistryClient(registry.host, { credential: async () => undefined });
  project = makeProject(STAGES);
  writeFileSync(join(project.dir, 'eib.yaml'), projectYaml(STAGES, `cache:\n  registry: ${registry.host}/${REPO}\n`));
  await writeRepo(project, [{ name: 'good', version: '1.0-r0', files: [{ path: 'etc/' }, { path: 'etc/good', content: 'good\n' }] }]);
  chownToUser(project.dir);
  const r = await build();
  assert.equal(r.code, 0, r.stderr);
  const base = (JSON.parse(r.stdout) as Built).stages[0]!;
  assert.equal(base.source, 'built');
  const tag = checkpointTag(base.key, 'aarch64');
  const manifest = await client.getManifest(REPO, tag);
  const parsed = JSON.parse(manifest.bytes.toString('utf8')) as ImageManifest;
  const chunks: Buffer[] = [];
  for await (const c of await client.fetchBlob(REPO, parsed.config.digest, parsed.config.size)) chunks.push(c as Buffer);
  published = { tag, key: base.key, manifest: manifest.bytes, record: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Checkpoint };
});

after(async () => {
  client?.close();
  await registry?.stop();
  if (project) {
    removeCanaries(project);
    rmSync(project.dir, { recursive: true, force: true });
  }
});

/** Replace the stage's tag with a checkpoint that is consistent in every digest, holding `entries` as its layer. */
async function plantCheckpoint(entries: readonly Entry[]): Promise<string> {
  const layer = craftLayer(entries);
  await client.pushBlob(REPO, { digest: layer.descriptor.digest, size: layer.descriptor.size, open: () => Readable.from([layer.blob]) });
  const record = canonicalJsonBytes({ ...published.record, layer: layer.descriptor, diffId: layer.diffId });
  const recordDescriptor = { mediaType: CHECKPOINT_MEDIA_TYPE, digest: digestOf(record), size: record.length };
  await client.pushBlob(REPO, { digest: recordDescriptor.digest, size: record.length, open: () => Readable.from([record]) });
  const manifest = JSON.parse(published.manifest.toString('utf8')) as ImageManifest;
  await client.putManifest(REPO, published.tag, canonicalJsonBytes({ ...manifest, config: recordDescriptor, layers: [layer.descriptor] }), MediaType.ImageManifest);
  return layer.descriptor.digest;
}

const CASES: { name: string; entries: (id: string) => Entry[]; reason: RegExp }[] = [
  {
    name: 'a symlink to /tmp, then a file through it',
    entries: (id) => [
      { path: 'etc', type: 'dir' },
      { path: 'etc/out', type: 'symlink', linkname: '/tmp' },
      { path: `etc/out/escaped-${id}`, body: 'escaped\n' },
    ],
    reason: /goes through the symlink "etc\/out"/,
  },
  {
    name: 'a path climbing out with ..',
    entries: (id) => [{ path: `etc/${DEEP}/tmp/escaped-${id}`, body: 'escaped\n' }],
    reason: /escaped-[0-9a-f]+.*outside/,
  },
  {
    name: 'a hardlink to a host file',
    entries: (id) => [{ path: 'etc/stolen', type: 'link', linkname: `${DEEP}/tmp/eib-canary-${id}` }],
    reason: /eib-canary-[0-9a-f]+.*outside/,
  },
];

for (const c of CASES) {
  test(`eib build refuses a shared cache checkpoint whose layer holds ${c.name}; the local cache keeps nothing of it`, async () => {
    const digest = await plantCheckpoint(c.entries(project.id));
    freshCheckout();
    const r = await build();
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const message = r.stderr.split('\n').find((l) => l.startsWith('error: ')) ?? '';
    assert.match(message, new RegExp(`${digest}.*stage base.*${registry.host.replace(/\./g, '\\.')}/${REPO}:${published.tag}`), 'names the layer and the shared cache entry');
    assert.match(message, c.reason);
    assert.match(message, /malformed or malicious/);
    assert.match(message, new RegExp(`delete the tag .*:${published.tag} from the registry`), 'says what to do');
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(canaryDamage(project), []);
    const cache = cacheContents(project.cache);
    assert.deepEqual(cache.checkpoints, [], 'no checkpoint');
    assert.deepEqual(cache.snapshots, [], 'no snapshot');
    assert.deepEqual(cache.tmp, [], 'no scratch');
    assert.ok(!cache.blobs.includes(digest.slice('sha256:'.length)), 'the refused layer is not kept');
  });
}

test('with the tag restored, a fresh cache builds from the shared cache', async () => {
  await client.putManifest(REPO, published.tag, published.manifest, MediaType.ImageManifest);
  freshCheckout();
  const r = await build();
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as Built).stages.map((s) => s.source), ['shared']);
  assert.equal(readFileSync(join(project.dir, 'canary'), 'utf8'), `project canary ${project.id}\n`);
});
