/**
 * The shared stage cache against a real registry (Debian's docker-registry):
 * a checkpoint built on a real overlay by the unprivileged test user is
 * published from one cache directory and fetched into another, whose
 * snapshot re-writes to the byte-identical layer and shows the same tree as
 * an overlay lower. Misses, an unreachable registry, and tampered content.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Checkpoint } from '../../src/store/checkpoints.js';
import { RegistryClient } from '../../src/remote/client.js';
import { checkpointTag, CHECKPOINT_MEDIA_TYPE } from '../../src/remote/checkpoint-manifest.js';
import { SharedCache } from '../../src/remote/shared-cache.js';
import { canonicalJsonBytes } from '../../src/oci/canonical-json.js';
import { digestHex, digestOf } from '../../src/oci/digest.js';
import { Annotation, MediaType, type ImageManifest } from '../../src/oci/types.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { encodeHeader, END_OF_ARCHIVE, type TarHeader } from '../../src/layer/tar-header.js';
import { freePort, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { testUser, userTempDir } from '../helpers/user.js';
import { configFor, drive, driveOk } from './shared-cache-fixture.js';
import type { LayerResult } from './shared-cache-tasks.js';

const key = (label: string): string => createHash('sha256').update(label).digest('hex');
const REPO = 'team/eib-cache';

let registry: TestRegistry;
let cacheRef: string;
/** The published checkpoint the later tests reuse, and the lower it was built on. */
let published: { cp: Checkpoint; base: string; cacheDir: string } | undefined;

before(async () => {
  registry = await startRegistry();
  cacheRef = `${registry.host}/${REPO}`;
});

after(async () => {
  await registry?.stop();
});

function fetchInto(cacheDir: string, k: string): ReturnType<typeof drive<{ checkpoint: Checkpoint | null; valid: boolean; lookup: boolean }>> {
  return drive('fetch', { cacheDir, registry: cacheRef, key: k, arch: 'aarch64' });
}

function registryBlobPath(digest: string): string {
  const hex = digestHex(digest as `sha256:${string}`);
  return join(registry.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

async function ensurePublished(): Promise<NonNullable<typeof published>> {
  if (published) return published;
  const base = userTempDir('eib-sc-base-');
  const cacheDir = userTempDir('eib-sc-a-');
  const cp = driveOk<Checkpoint>('stage', { cacheDir, registry: cacheRef, key: key('stage one'), arch: 'aarch64', base, name: 'configure' });
  published = { cp, base, cacheDir };
  return published;
}

test('a checkpoint published from one cache is fetched into an empty one, and its snapshot is the same upperdir', async () => {
  const { cp, base, cacheDir: cacheA } = await ensurePublished();
  assert.ok(cp.layer, 'the stage changed files, so it has a layer');

  assert.equal(driveOk<string>('publish', { cacheDir: cacheA, registry: cacheRef, key: cp.key }), 'published');
  assert.equal(driveOk<string>('publish', { cacheDir: cacheA, registry: cacheRef, key: cp.key }), 'present', 'a second publish finds the tag');

  // An independent reader sees the storage scheme: tag → checkpoint artifact with the key.
  const tag = checkpointTag(cp.key, 'aarch64');
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${cacheRef}:${tag}`], { encoding: 'utf8' })) as ImageManifest;
  assert.equal(raw.artifactType, CHECKPOINT_MEDIA_TYPE);
  assert.equal(raw.config.mediaType, CHECKPOINT_MEDIA_TYPE);
  assert.equal(raw.annotations?.[Annotation.CacheKey], cp.key);
  assert.equal(raw.annotations?.[Annotation.Stage], 'configure');
  assert.deepEqual(raw.layers, [cp.layer]);

  // B holds a stale snapshot of that key (its record lost): the pull replaces it.
  const cacheB = userTempDir('eib-sc-b-');
  const stale = join(cacheB, 'snapshots', cp.key, 'stale');
  mkdirSync(stale, { recursive: true });
  for (const d of [join(cacheB, 'snapshots'), join(cacheB, 'snapshots', cp.key), stale]) chownSync(d, testUser().uid, testUser().gid);
  const fetched = fetchInto(cacheB, cp.key);
  assert.equal(fetched.error, undefined, fetched.error?.message);
  assert.deepEqual(fetched.warnings, []);
  assert.equal(fetched.value?.lookup, true);
  assert.deepEqual(fetched.value?.checkpoint, cp);
  assert.equal(fetched.value?.valid, true, 'record, blob and snapshot are all in cache B');
  assert.deepEqual(JSON.parse(readFileSync(join(cacheB, 'checkpoints', `${cp.key}.json`), 'utf8')), cp);
  const blobA = readFileSync(new BlobStore(cacheA).path(cp.layer.digest));
  assert.ok(readFileSync(new BlobStore(cacheB).path(cp.layer.digest)).equals(blobA));

  // writeLayer is deterministic: the rebuilt snapshot re-writes to the very same layer.
  const scratchStore = userTempDir('eib-sc-rewrite-');
  const rewritten = driveOk<LayerResult>('rewrite', { snapshot: join(cacheB, 'snapshots', cp.key), lowers: [base], storeDir: scratchStore });
  assert.deepEqual(rewritten.layer, cp.layer);
  assert.equal(rewritten.diffId, cp.diffId);

  // As an overlay lower, it shows the same tree (owners, content, mtimes, xattrs) as the original.
  const view = (cacheDir: string): string[] => driveOk<string[]>('merged', { lowers: [join(cacheDir, 'snapshots', cp.key), base], mountpoint: userTempDir('eib-sc-mnt-') });
  const original = view(cacheA);
  assert.deepEqual(view(cacheB), original);
  assert.ok(original.some((l) => l.startsWith('usr/share/doc/NEW f')));
  assert.ok(!original.some((l) => l.startsWith('etc/old.conf') || l.startsWith('usr/share/doc/a')), 'the whiteout and the opaque dir hide lower entries');
  assert.ok(original.some((l) => /^etc\/shadow f 640 0:42 /.test(l)), 'owners as the namespace sees them');
  assert.ok(original.includes('security.capability=0x0100000200200000000000000000000000000000'));

  // Overlay metadata in upperdir form: a 0/0 whiteout, the opaque xattr, namespace owners.
  const snapshotB = join(cacheB, 'snapshots', cp.key);
  const stats = driveOk<{ path: string; type: string; rdev: number; uid: number; gid: number; mode: number; opaque: string }[]>('inspect', {
    root: snapshotB,
    paths: ['etc/old.conf', 'usr/share/doc', 'etc/shadow', 'var/empty', 'bin/busybox', 'dev/initctl'],
  });
  const byPath = new Map(stats.map((s) => [s.path, s]));
  assert.deepEqual([byPath.get('etc/old.conf')?.type, byPath.get('etc/old.conf')?.rdev], ['c', 0]);
  assert.equal(byPath.get('usr/share/doc')?.opaque, 'y');
  assert.deepEqual([byPath.get('etc/shadow')?.uid, byPath.get('etc/shadow')?.gid, byPath.get('etc/shadow')?.mode], [0, 42, 0o640]);
  assert.deepEqual([byPath.get('var/empty')?.uid, byPath.get('var/empty')?.mode], [1000, 0o2711]);
  assert.equal(byPath.get('bin/busybox')?.mode, 0o4755);
  assert.equal(byPath.get('dev/initctl')?.type, 'p');
  assert.equal(existsSync(join(snapshotB, 'stale')), false, 'the stale snapshot was replaced');
  // The stale snapshot is retired into tmp (another process may have it mounted); eib gc removes it.
  assert.deepEqual(readdirSync(join(cacheB, 'tmp')).filter((n) => !n.startsWith('replaced-')), [], 'no scratch left behind');
  assert.equal(readdirSync(join(cacheB, 'tmp')).length, 1, 'the stale snapshot was retired, not deleted under a possible user');
});

test('a stage that changed nothing round-trips as a manifest with the empty descriptor', async () => {
  const cacheA = userTempDir('eib-sc-empty-a-');
  const k = key('empty stage');
  const cp = driveOk<Checkpoint>('stage', { cacheDir: cacheA, registry: cacheRef, key: k, arch: 'aarch64', base: userTempDir('eib-sc-base-'), name: 'nothing', empty: true });
  assert.equal(cp.layer, null);
  assert.equal(driveOk<string>('publish', { cacheDir: cacheA, registry: cacheRef, key: k }), 'published');
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${cacheRef}:${checkpointTag(k, 'aarch64')}`], { encoding: 'utf8' })) as ImageManifest;
  assert.deepEqual(raw.layers.map((l) => [l.mediaType, l.size]), [[MediaType.Empty, 2]]);

  const cacheB = userTempDir('eib-sc-empty-b-');
  const fetched = fetchInto(cacheB, k);
  assert.equal(fetched.error, undefined, fetched.error?.message);
  assert.deepEqual(fetched.value?.checkpoint, cp);
  assert.equal(fetched.value?.valid, true);
  assert.deepEqual(readdirSync(join(cacheB, 'snapshots', k)), []);
});

test('a key the registry does not hold is a miss, without warnings', async () => {
  const warnings: string[] = [];
  const cacheDir = userTempDir('eib-sc-miss-');
  const cache = new SharedCache(configFor({ cacheDir, registry: cacheRef }), new BlobStore(cacheDir), { warn: (m) => warnings.push(m) });
  try {
    assert.equal(await cache.lookup(key('never built'), 'aarch64'), false);
    assert.equal(await cache.fetch(key('never built'), 'aarch64'), undefined);
    // A repository that does not exist at all is a miss too.
    const other = new SharedCache(configFor({ cacheDir, registry: `${registry.host}/nobody/here` }), new BlobStore(cacheDir), { warn: (m) => warnings.push(m) });
    assert.equal(await other.fetch(key('never built'), 'x86_64'), undefined);
    other.close();
  } finally {
    cache.close();
  }
  assert.deepEqual(warnings, []);
  assert.equal(existsSync(join(cacheDir, 'checkpoints')), false);
});

test('a registry that is down is one warning: lookups miss, fetches miss, publishing is skipped', async () => {
  const warnings: string[] = [];
  const cacheDir = userTempDir('eib-sc-down-');
  const down = `127.0.0.1:${await freePort()}/${REPO}`;
  const cache = new SharedCache(configFor({ cacheDir, registry: down }), new BlobStore(cacheDir), {
    warn: (m) => warnings.push(m),
    client: { maxAttempts: 2, retryDelayMs: 10 },
  });
  const cp: Checkpoint = { format: 1, key: key('down'), arch: 'aarch64', stage: 's', steps: [], layer: null, diffId: null, packages: [], created: '2024-01-01T00:00:00Z', durationMs: 1 };
  try {
    assert.equal(await cache.fetch(cp.key, 'aarch64'), undefined);
    assert.equal(await cache.lookup(cp.key, 'aarch64'), false);
    assert.equal(await cache.publish(cp), 'skipped');
  } finally {
    cache.close();
  }
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, /shared cache 127\.0\.0\.1:\d+\/team\/eib-cache cannot be used .*ECONNREFUSED.*building without it/);
});

test('a layer blob tampered with in the registry is refused, and leaves nothing in the cache', async () => {
  const { cp } = await ensurePublished();
  if (!existsSync(registryBlobPath(cp.layer!.digest))) driveOk('publish', { cacheDir: published!.cacheDir, registry: cacheRef, key: cp.key });
  const path = registryBlobPath(cp.layer!.digest);
  const original = readFileSync(path);
  const tampered = Buffer.from(original);
  const middle = tampered.length >> 1;
  tampered[middle] = tampered[middle]! ^ 0x55;
  writeFileSync(path, tampered);
  try {
    const cacheC = userTempDir('eib-sc-tampered-');
    const fetched = fetchInto(cacheC, cp.key);
    assert.equal(fetched.error?.code, 'EINTEGRITY', JSON.stringify(fetched));
    assert.match(fetched.error!.message, new RegExp(`${cp.layer!.digest}.*does not match its digest`));
    assert.equal(existsSync(join(cacheC, 'checkpoints', `${cp.key}.json`)), false);
    assert.equal(existsSync(join(cacheC, 'snapshots', cp.key)), false);
    assert.equal(existsSync(new BlobStore(cacheC).path(cp.layer!.digest)), false);
  } finally {
    writeFileSync(path, original);
  }
});

test('a tag whose record is for another key, or whose diff_id is wrong, is refused', async () => {
  const { cp } = await ensurePublished();
  if (!existsSync(registryBlobPath(cp.layer!.digest))) driveOk('publish', { cacheDir: published!.cacheDir, registry: cacheRef, key: cp.key });
  const client = new RegistryClient(registry.host);
  try {
    const source = await client.getManifest(REPO, checkpointTag(cp.key, 'aarch64'));
    const manifest = JSON.parse(source.bytes.toString('utf8')) as ImageManifest;

    // The same record under another key's tag (annotated with that key): the record says otherwise.
    const stolen = key('stolen');
    const relabelled = { ...manifest, annotations: { ...manifest.annotations, [Annotation.CacheKey]: stolen } };
    await client.putManifest(REPO, checkpointTag(stolen, 'aarch64'), canonicalJsonBytes(relabelled), MediaType.ImageManifest);
    const a = fetchInto(userTempDir('eib-sc-stolen-'), stolen);
    assert.equal(a.error?.code, 'EINTEGRITY');
    assert.match(a.error!.message, new RegExp(`record is for cache key "${cp.key}", not ${stolen}`));

    // A consistent record whose diff_id does not match the layer: caught while unpacking.
    const liar = key('wrong diff id');
    const record = canonicalJsonBytes({ ...cp, key: liar, diffId: digestOf('not the layer') });
    const recordDigest = digestOf(record);
    await client.pushBlob(REPO, { digest: recordDigest, size: record.length, open: () => Readable.from([record]) });
    const lying = { ...manifest, config: { ...manifest.config, digest: recordDigest, size: record.length }, annotations: { ...manifest.annotations, [Annotation.CacheKey]: liar } };
    await client.putManifest(REPO, checkpointTag(liar, 'aarch64'), canonicalJsonBytes(lying), MediaType.ImageManifest);
    const cacheD = userTempDir('eib-sc-liar-');
    const b = fetchInto(cacheD, liar);
    assert.equal(b.error?.code, 'EINTEGRITY', JSON.stringify(b));
    assert.match(b.error!.message, /diff_id/);
    assert.equal(existsSync(join(cacheD, 'snapshots', liar)), false);
    assert.deepEqual(readdirSync(join(cacheD, 'tmp')), []);

    // Something that is not an eib checkpoint at all.
    const foreign = key('foreign');
    const notOurs = { ...manifest, artifactType: 'application/vnd.example+json', annotations: { ...manifest.annotations, [Annotation.CacheKey]: foreign } };
    await client.putManifest(REPO, checkpointTag(foreign, 'aarch64'), canonicalJsonBytes(notOurs), MediaType.ImageManifest);
    const c = fetchInto(userTempDir('eib-sc-foreign-'), foreign);
    assert.equal(c.error?.code, 'EINTEGRITY');
    assert.match(c.error!.message, /not an eib checkpoint/);
  } finally {
    client.close();
  }
});

test('a checkpoint holding a device node is a miss with a warning: a user namespace cannot make one', async () => {
  // Published as root (only real root can build such a stage), fetched by the unprivileged user.
  const rootCache = mkdtempSync(join(tmpdir(), 'eib-sc-root-'));
  const store = new BlobStore(rootCache);
  const header = (h: Partial<TarHeader> & Pick<TarHeader, 'path' | 'type'>): Buffer =>
    encodeHeader({ mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_600_000_000, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map(), ...h });
  const raw = Buffer.concat([header({ path: 'dev', type: 'dir' }), header({ path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }), END_OF_ARCHIVE]);
  const blob = await store.putBytes(gzipSync(raw));
  const k = key('device stage');
  const cp: Checkpoint = {
    format: 1,
    key: k,
    arch: 'aarch64',
    stage: 'devices',
    steps: ['run'],
    layer: { mediaType: MediaType.LayerGzip, digest: blob.digest, size: blob.size },
    diffId: digestOf(raw),
    packages: [],
    created: '2024-01-01T00:00:00Z',
    durationMs: 5,
  };
  const cache = new SharedCache(configFor({ cacheDir: rootCache, registry: cacheRef }), store, { warn: (m) => assert.fail(m) });
  try {
    assert.equal(await cache.publish(cp), 'published');
  } finally {
    cache.close();
  }
  const cacheDir = userTempDir('eib-sc-device-');
  const fetched = fetchInto(cacheDir, k);
  assert.equal(fetched.error, undefined, fetched.error?.message);
  assert.equal(fetched.value?.checkpoint, null);
  assert.equal(fetched.value?.valid, false);
  assert.equal(fetched.warnings.length, 1);
  assert.match(fetched.warnings[0]!, /device node "dev\/null".*build this stage locally/);
  assert.equal(existsSync(join(cacheDir, 'snapshots', k)), false);
});
