/**
 * The team-shared stage cache (`cache.registry`): checkpoints stored in an
 * OCI registry, one tag per cache key (the scheme: checkpoint-manifest.ts).
 *
 * - lookup: does the registry hold a checkpoint for this key?
 * - fetch: pull its record and layer into the local cache (each verified
 *   against its digest), rebuild the snapshot from the layer inside the
 *   namespace (checked against the record's diff_id), write the record last.
 * - publish: push the layer, the record and the manifest under the tag.
 * - fetchPackage / publishPackage: the package archive, one tag per .apk
 *   checksum (the scheme: package-manifest.ts).
 *
 * The shared cache only ever saves work: when the registry cannot be reached
 * or refuses us, that is a warning and the build goes on locally (after the
 * first connection failure the cache is left alone for the rest of the run,
 * instead of paying the retries at every stage). Content that does not match
 * its digest, diff_id or key is an error: something is corrupt or hostile.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PackagePin } from '../apk/archive.js';
import { writeAtomically } from '../apk/fetch.js';
import type { AlpineArch, Config } from '../config/types.js';
import { EibError, IntegrityError } from '../errors.js';
import { runInNamespace } from '../sandbox/namespace.js';
import type { BlobStore } from '../store/blob-store.js';
import { CheckpointStore, type Checkpoint } from '../store/checkpoints.js';
import { MediaType, type Descriptor } from '../oci/types.js';
import { RegistryClient, type BlobContent, type FetchedManifest, type RegistryClientOptions } from './client.js';
import { RegistryError } from './errors.js';
import { checkpointArtifact, checkpointTag, EMPTY_BLOB, EMPTY_DESCRIPTOR, parseCheckpointManifest, parseCheckpointRecord, RECORD_LIMIT } from './checkpoint-manifest.js';
import { PACKAGE_MEDIA_TYPE, packageManifest, packageTag, parsePackageManifest } from './package-manifest.js';
import type { TransferProgress } from './push.js';
import { parseReference } from './reference.js';
import type { RestoreSnapshotPayload } from './snapshot-task.js';
import { readCapped } from './http.js';
import { isRetryableNetworkError } from './retry.js';
import { LayerError, UnpackError } from '../layer/errors.js';

export interface SharedCacheOptions {
  /** Where warnings go (registry unreachable, push refused, …); default stderr. */
  readonly warn?: (message: string) => void;
  /** Client settings (retries, timeouts, credentials); insecure and ca come from the config. */
  readonly client?: RegistryClientOptions;
}

export interface TransferCallbacks {
  readonly onProgress?: (event: TransferProgress) => void;
  /** Aborting stops the snapshot rebuild (the namespace is killed). */
  readonly signal?: AbortSignal;
}

/** What publish did: pushed it, found it there already, or skipped it (warned). */
export type PublishOutcome = 'published' | 'present' | 'skipped';



export class SharedCache {
  /** host[:port] and repository of cache.registry. */
  readonly registry: string;
  readonly repository: string;
  private readonly client: RegistryClient;
  private readonly store: BlobStore;
  private readonly checkpoints: CheckpointStore;
  private readonly warn: (message: string) => void;
  /** Repositories of the same registry that may already hold our layers (the image's). */
  private readonly mountFrom: string[];
  /** Set after a connection failure: the cache is skipped for the rest of the run. */
  private unreachable = false;
  /** Set when pushing is refused: fetches go on, publishing stops. */
  private pushRefused = false;

  /** The shared cache of `config`, or undefined when cache.registry is not set. */
  static forConfig(config: Config, store: BlobStore, options: SharedCacheOptions = {}): SharedCache | undefined {
    return config.cache.registry === undefined ? undefined : new SharedCache(config, store, options);
  }

  constructor(config: Config, store: BlobStore, options: SharedCacheOptions = {}) {
    if (config.cache.registry === undefined) throw new EibError('ENOCACHE', `${config.file} sets no cache.registry: there is no shared cache to use`, { exitCode: 2 });
    const ref = parseReference(config.cache.registry);
    this.registry = ref.registry;
    this.repository = ref.repository;
    // registry.insecure / registry.ca are about a host; they apply when the cache lives there too.
    const image = config.registry ? parseReference(config.registry.ref) : undefined;
    const sameHost = image?.registry === ref.registry;
    this.client = new RegistryClient(ref.registry, {
      ...options.client,
      ...(sameHost && config.registry?.insecure ? { insecure: true } : {}),
      ...(sameHost && config.registry?.ca !== undefined ? { ca: config.registry.ca } : {}),
    });
    this.mountFrom = sameHost && image.repository !== ref.repository ? [image.repository] : [];
    this.store = store;
    this.checkpoints = new CheckpointStore(config.cache.dir);
    this.warn = options.warn ?? ((m) => process.stderr.write(`warning: ${m}\n`));
  }

  /** host/repository:tag of a checkpoint, as users see it in the registry. */
  refFor(key: string, arch: AlpineArch): string {
    return `${this.registry}/${this.repository}:${checkpointTag(key, arch)}`;
  }

  /** Whether the registry holds a checkpoint for `key` (false, with a warning, when it cannot be asked). */
  async lookup(key: string, arch: AlpineArch): Promise<boolean> {
    if (this.unreachable) return false;
    try {
      const found = await this.client.headManifest(this.repository, checkpointTag(key, arch));
      if (found === undefined) return false;
      if (found.mediaType !== MediaType.ImageManifest) {
        this.warn(`shared cache: ${this.refFor(key, arch)} holds a ${found.mediaType || 'manifest without a media type'}, not an eib checkpoint; building this stage locally (delete that tag from the registry if eib did not write it)`);
        return false;
      }
      return true;
    } catch (e) {
      this.degrade(e, `looking up ${this.refFor(key, arch)}`);
      return false;
    }
  }

  /**
   * Pull the checkpoint `key` into the local cache and return it; undefined
   * when the registry has none (or cannot be reached: a warning). Throws an
   * IntegrityError when what the registry sends is not what it names.
   */
  async fetch(key: string, arch: AlpineArch, options: TransferCallbacks = {}): Promise<Checkpoint | undefined> {
    if (this.unreachable) return undefined;
    const ref = this.refFor(key, arch);
    try {
      let fetched: FetchedManifest;
      try {
        fetched = await this.client.getManifest(this.repository, checkpointTag(key, arch));
      } catch (e) {
        if (e instanceof RegistryError && e.status === 404) return undefined;
        throw e;
      }
      const where = `shared cache entry ${ref}`;
      const parsed = parseCheckpointManifest(fetched.bytes, where, key);
      const recordBytes = await readBlob(await this.client.fetchBlob(this.repository, parsed.record.digest, parsed.record.size));
      const cp = parseCheckpointRecord(recordBytes, where, { key, arch, layer: parsed.layer });
      const layer = parsed.layer;
      const pulled = layer !== null && (await this.pullLayer(layer, options.onProgress));
      try {
        await this.restoreSnapshot(cp, ref, options.signal);
      } catch (e) {
        // A layer that cannot become a snapshot (hostile, or not what its diff_id says) is not kept.
        if (pulled) await this.store.delete(layer.digest);
        if (e instanceof LayerError && e.malformed) {
          throw new EibError(e.code, `${e.message}; it came from the shared cache: delete the tag ${ref} from the registry, then build again`, { cause: e });
        }
        throw e;
      }
      await this.checkpoints.write(cp);
      return cp;
    } catch (e) {
      this.degrade(e, `pulling ${ref}`);
      return undefined;
    }
  }

  /** Push `checkpoint` (its layer must be in the local blob store) unless the registry has it already. */
  async publish(checkpoint: Checkpoint, options: Pick<TransferCallbacks, 'onProgress'> = {}): Promise<PublishOutcome> {
    if (this.unreachable || this.pushRefused) return 'skipped';
    const tag = checkpointTag(checkpoint.key, checkpoint.arch);
    const ref = this.refFor(checkpoint.key, checkpoint.arch);
    try {
      if ((await this.client.headManifest(this.repository, tag)) !== undefined) return 'present';
      const artifact = checkpointArtifact(checkpoint);
      const layer = checkpoint.layer ? await this.localBlob(checkpoint.layer) : bytesBlob(EMPTY_BLOB, artifact.layer);
      const record = bytesBlob(artifact.record, artifact.recordDescriptor);
      await Promise.all([this.pushBlob(layer, options.onProgress), this.pushBlob(record)]);
      await this.client.putManifest(this.repository, tag, artifact.manifest, MediaType.ImageManifest);
      return 'published';
    } catch (e) {
      return this.pushFailed(e, 'checkpoints', ref);
    }
  }

  /**
   * Pull the archived .apk of `pin` into `dest` (atomically); false when the
   * registry has none or cannot be asked (a warning). The blob is checked
   * against its digest here; whether it is the pinned, trusted package is
   * for the caller to check, as for any downloaded package.
   */
  async fetchPackage(pin: PackagePin, dest: string): Promise<boolean> {
    if (this.unreachable) return false;
    const ref = `${this.registry}/${this.repository}:${packageTag(pin)}`;
    try {
      let fetched: FetchedManifest;
      try {
        fetched = await this.client.getManifest(this.repository, packageTag(pin));
      } catch (e) {
        if (e instanceof RegistryError && e.status === 404) return false;
        throw e;
      }
      const apk = parsePackageManifest(fetched.bytes, `package archive entry ${ref}`, pin);
      await writeAtomically(await this.client.fetchBlob(this.repository, apk.digest, apk.size), dest, { url: ref });
      return true;
    } catch (e) {
      this.degrade(e, `pulling ${ref}`);
      return false;
    }
  }

  /** Archive the .apk at `path` as the package `pin` unless the registry has it already. */
  async publishPackage(pin: PackagePin, path: string): Promise<PublishOutcome> {
    if (this.unreachable || this.pushRefused) return 'skipped';
    const tag = packageTag(pin);
    const ref = `${this.registry}/${this.repository}:${tag}`;
    try {
      if ((await this.client.headManifest(this.repository, tag)) !== undefined) return 'present';
      const digest = createHash('sha256');
      await pipeline(createReadStream(path), digest);
      const apk: Descriptor = { mediaType: PACKAGE_MEDIA_TYPE, digest: `sha256:${digest.digest('hex')}`, size: (await stat(path)).size };
      const empty = bytesBlob(EMPTY_BLOB, EMPTY_DESCRIPTOR);
      const blob: BlobContent = { digest: apk.digest, size: apk.size, open: (range) => createReadStream(path, range ? { start: range.start, end: range.end } : {}) };
      await Promise.all([this.pushBlob(blob), this.pushBlob(empty)]);
      await this.client.putManifest(this.repository, tag, packageManifest(pin, apk), MediaType.ImageManifest);
      return 'published';
    } catch (e) {
      return this.pushFailed(e, 'packages', ref);
    }
  }

  close(): void {
    this.client.close();
  }

  /** A refused push stops publishing for the run (fetches go on); anything else as degrade says. */
  private pushFailed(e: unknown, what: string, ref: string): 'skipped' {
    if (e instanceof RegistryError && e.code === 'EAUTH' && !this.unreachable) {
      this.pushRefused = true;
      this.warn(`cannot push ${what} to the shared cache ${this.registry}/${this.repository}: ${e.message}; they stay in the local cache only`);
      return 'skipped';
    }
    this.degrade(e, `pushing ${ref}`);
    return 'skipped';
  }

  /** Download the layer into the local store; false when it was there already. */
  private async pullLayer(layer: Descriptor, onProgress?: (event: TransferProgress) => void): Promise<boolean> {
    if ((await this.store.has(layer.digest)) && (await this.store.size(layer.digest)) === layer.size) {
      onProgress?.({ digest: layer.digest, bytes: layer.size, total: layer.size, state: 'present' });
      return false;
    }
    const stream = await this.client.fetchBlob(this.repository, layer.digest, layer.size);
    let received = 0;
    if (onProgress) {
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        onProgress({ digest: layer.digest, bytes: received, total: layer.size, state: 'downloading' });
      });
    }
    await this.store.put(stream, { digest: layer.digest, size: layer.size });
    onProgress?.({ digest: layer.digest, bytes: layer.size, total: layer.size, state: 'downloaded' });
    return true;
  }

  private async restoreSnapshot(cp: Checkpoint, ref: string, signal?: AbortSignal): Promise<void> {
    const payload: RestoreSnapshotPayload = {
      storeDir: this.store.root,
      layer: cp.layer && cp.diffId ? { digest: cp.layer.digest, diffId: cp.diffId } : null,
      snapshot: this.checkpoints.snapshotPath(cp.key),
      scratch: await this.checkpoints.scratchDir(),
      name: `${cp.layer?.digest ?? 'empty layer'} of stage ${cp.stage} (${ref})`,
    };
    const { restoreSnapshotTask } = await import('./snapshot-task.js');
    await runInNamespace(restoreSnapshotTask, payload, { ...(signal ? { signal } : {}), onWarning: this.warn });
  }

  private async localBlob(d: Descriptor): Promise<BlobContent> {
    const size = await this.store.size(d.digest);
    if (size !== d.size) {
      throw new IntegrityError('EBADSIZE', `the local layer ${d.digest} has ${size} bytes, its checkpoint says ${d.size}; delete the local cache entry and rebuild`);
    }
    const path = this.store.path(d.digest);
    return { digest: d.digest, size, open: (range) => createReadStream(path, range ? { start: range.start, end: range.end } : {}) };
  }

  private async pushBlob(blob: BlobContent, onProgress?: (event: TransferProgress) => void): Promise<void> {
    onProgress?.({ digest: blob.digest, bytes: 0, total: blob.size, state: 'checking' });
    const result = await this.client.pushBlob(this.repository, blob, {
      mountFrom: this.mountFrom,
      ...(onProgress ? { onBytes: (n: number) => onProgress({ digest: blob.digest, bytes: n, total: blob.size, state: 'uploading' }) } : {}),
    });
    onProgress?.({ digest: blob.digest, bytes: blob.size, total: blob.size, state: result });
  }

  /**
   * Turn a failure into a warning when the build can go on without the
   * shared cache; rethrow it otherwise (integrity, a hostile layer, local
   * failures the build would hit anyway).
   */
  private degrade(e: unknown, doing: string): void {
    // Local problems with a pulled layer that building the stage locally does not have.
    if (e instanceof UnpackError) {
      this.warn(`${doing}: ${e.message}`);
      return;
    }
    const network = isRetryableNetworkError(e);
    if (!(e instanceof RegistryError) && !network) throw e;
    const code = e instanceof RegistryError ? e.code : 'ENETWORK';
    if (code === 'ENETWORK' || code === 'ETLS' || code === 'EINSECURE' || code === 'EAUTH') {
      // Every later request would fail the same way (after its retries).
      this.unreachable = true;
      this.warn(`the shared cache ${this.registry}/${this.repository} cannot be used (${doing}: ${(e as Error).message}); building without it`);
      return;
    }
    this.warn(`shared cache: ${doing}: ${(e as Error).message}; building this stage locally`);
  }
}

function bytesBlob(bytes: Buffer, d: Descriptor): BlobContent {
  return { digest: d.digest, size: bytes.length, open: (range) => Readable.from([range ? bytes.subarray(range.start, range.end + 1) : bytes]) };
}

/** A small verified blob (a record), read whole. */
function readBlob(stream: Readable): Promise<Buffer> {
  return readCapped(stream, RECORD_LIMIT, () => new IntegrityError('EBADSIZE', `a checkpoint record is larger than ${RECORD_LIMIT} bytes`));
}
