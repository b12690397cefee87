/**
 * Push an image (config and layers in parallel, then the manifest; for an
 * index, each platform manifest first, then the index), then its referrers
 * (each artifact manifest by digest, made discoverable through the
 * registry's referrers API or the fallback tag), and pull one into an OCI
 * layout (each blob verified into a temp file, then renamed to its digest).
 */
import { mapLimit } from '../fs/map-limit.js';
import { Readable } from 'node:stream';
import { IntegrityError, UsageError } from '../errors.js';
import { MediaType, type Descriptor, type Digest, type ImageIndex, type ImageManifest } from '../oci/types.js';
import { OciLayout } from '../store/layout.js';
import { RegistryClient, type BlobPushResult, type FetchedManifest, type RegistryClientOptions } from './client.js';
import type { ImageSource } from './image-source.js';
import { indexReferrers, referrerDescriptor, type ReferrerSource, type ReferrersVia } from './referrers.js';
import { parsePulledManifest, type PulledManifest } from './pulled-manifest.js';
import { formatReference, manifestReference, type Reference } from './reference.js';
import { digestOf } from '../oci/digest.js';
import { readCapped } from './http.js';

export type TransferState = 'checking' | 'uploading' | 'downloading' | BlobPushResult | 'downloaded' | 'present';

export interface TransferProgress {
  readonly digest: Digest;
  /** Bytes transferred so far (for exists/mounted/present: the whole size). */
  readonly bytes: number;
  readonly total: number;
  readonly state: TransferState;
}

export interface TransferOptions extends RegistryClientOptions {
  readonly onProgress?: (event: TransferProgress) => void;
  /** Blobs transferred at once (default 3). */
  readonly concurrency?: number;
  /** Other repositories of the same registry to mount blobs from. */
  readonly mountFrom?: readonly string[];
  /** Reuse a client (and what it learned: tokens, blob locations). */
  readonly client?: RegistryClient;
}

export interface TransferResult {
  /** Digest of the pushed or pulled manifest (or index). */
  readonly digest: Digest;
  /** host/repository:tag (or @digest when no tag). */
  readonly ref: string;
}

export interface PushOptions extends TransferOptions {
  /** Referrers to push after the image: those whose subject is a pushed manifest (or the index). */
  readonly referrers?: ReferrerSource;
}

export interface PushedReferrer {
  /** As a referrers list shows it (artifactType, annotations). */
  readonly descriptor: Descriptor;
  readonly subject: Digest;
  /** Listed by the registry's referrers API, or in the fallback tag's index. */
  readonly via: ReferrersVia;
}

export interface PushResult extends TransferResult {
  /** Every manifest pushed for the image: the index (when there is one) and each platform manifest. */
  readonly manifests: readonly Descriptor[];
  readonly referrers: readonly PushedReferrer[];
}

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.ImageIndex, MediaType.DockerManifestList]);


function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new IntegrityError('EINTEGRITY', `${what} is not valid JSON`);
  }
}

function readAll(stream: Readable, limit: number, what: string): Promise<Buffer> {
  return readCapped(stream, limit, () => new IntegrityError('EBADSIZE', `${what} is larger than ${limit} bytes`));
}

function clientFor(ref: Reference, options: TransferOptions): { client: RegistryClient; owned: boolean } {
  if (options.client) return { client: options.client, owned: false };
  return { client: new RegistryClient(ref.registry, options), owned: true };
}

function resultRef(ref: Reference, digest: Digest): string {
  return formatReference(ref.tag !== undefined ? { registry: ref.registry, repository: ref.repository, tag: ref.tag } : { registry: ref.registry, repository: ref.repository, digest });
}

/** Push the image `source` names to `ref`, then its referrers; returns the manifest digest. */
export async function pushImage(source: ImageSource, ref: Reference, options: PushOptions = {}): Promise<PushResult> {
  const { client, owned } = clientFor(ref, options);
  try {
    const top = await source.manifest();
    if (ref.digest !== undefined && ref.digest !== top.descriptor.digest) {
      throw new UsageError(`${formatReference(ref)} pins digest ${ref.digest}, but the image to push is ${top.descriptor.digest}; drop the @digest part`);
    }
    await client.ping();
    const manifests: Descriptor[] = [];
    await pushTree(client, source, ref.repository, top.descriptor, top.bytes, ref.tag ?? top.descriptor.digest, options, manifests);
    const referrers = options.referrers ? await pushReferrers(client, source, ref.repository, options.referrers, manifests, options) : [];
    return { digest: top.descriptor.digest, ref: resultRef(ref, top.descriptor.digest), manifests, referrers };
  } finally {
    if (owned) client.close();
  }
}

/** A manifest's exact bytes from the source, checked against its digest. */
async function readManifestBytes(source: ImageSource, digest: Digest): Promise<Buffer> {
  const bytes = await readAll((await source.blob(digest)).open(), 4 << 20, `manifest ${digest}`);
  if (digestOf(bytes) !== digest) throw new IntegrityError('EINTEGRITY', `the local manifest ${digest} does not match its digest; rebuild the image`);
  return bytes;
}

/**
 * Push the referrers of the pushed manifests (their blobs, then each by
 * digest: after the subject, so registries that check subjects accept it),
 * then list them per subject where the registry looks for them.
 */
async function pushReferrers(client: RegistryClient, source: ImageSource, repository: string, from: ReferrerSource, subjects: readonly Descriptor[], options: TransferOptions): Promise<PushedReferrer[]> {
  const local = await from.referrers(new Set(subjects.map((d) => d.digest)));
  const bySubject = new Map<Digest, Descriptor[]>();
  for (const r of local) {
    const bytes = await readManifestBytes(source, r.descriptor.digest);
    const { descriptor, subject } = referrerDescriptor(bytes, r.descriptor.digest);
    if (subject !== r.subject) throw new IntegrityError('EINTEGRITY', `the referrer ${r.descriptor.digest} is listed for ${r.subject} but its manifest names ${subject}; rebuild the image`);
    await pushTree(client, source, repository, descriptor, bytes, descriptor.digest, options, []);
    bySubject.set(subject, [...(bySubject.get(subject) ?? []), descriptor]);
  }
  const pushed: PushedReferrer[] = [];
  for (const [subject, descriptors] of bySubject) {
    const { via } = await indexReferrers(client, repository, subject, descriptors);
    for (const descriptor of descriptors) pushed.push({ descriptor, subject, via });
  }
  return pushed;
}

async function pushTree(client: RegistryClient, source: ImageSource, repository: string, descriptor: Descriptor, bytes: Buffer, reference: string, options: TransferOptions, pushed: Descriptor[]): Promise<void> {
  const what = `manifest ${descriptor.digest}`;
  if (INDEX_TYPES.has(descriptor.mediaType)) {
    const index = parseJson<ImageIndex>(bytes, what);
    for (const child of index.manifests) {
      await pushTree(client, source, repository, child, await readManifestBytes(source, child.digest), child.digest, options, pushed);
    }
  } else {
    const manifest = parseJson<ImageManifest>(bytes, what);
    const blobs = [manifest.config, ...manifest.layers];
    await mapLimit(blobs, options.concurrency ?? 3, async (d) => {
      const blob = await source.blob(d.digest);
      if (blob.size !== d.size) {
        throw new IntegrityError('EBADSIZE', `the local blob ${d.digest} has ${blob.size} bytes, its descriptor says ${d.size}; rebuild the image`);
      }
      options.onProgress?.({ digest: d.digest, bytes: 0, total: d.size, state: 'checking' });
      const result = await client.pushBlob(
        repository,
        { digest: d.digest, size: d.size, open: (range) => blob.open(range) },
        {
          ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
          onBytes: (n) => options.onProgress?.({ digest: d.digest, bytes: n, total: d.size, state: 'uploading' }),
        },
      );
      options.onProgress?.({ digest: d.digest, bytes: d.size, total: d.size, state: result });
    });
  }
  await client.putManifest(repository, reference, bytes, descriptor.mediaType);
  pushed.push({ mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, ...(descriptor.platform ? { platform: descriptor.platform } : {}) });
}

/**
 * Pull `ref` into the OCI layout `dir` (created when absent), tagging it
 * `ref.tag` (or `options.tag`). Blobs already present are kept; new ones are
 * verified while they stream into the store and land by rename.
 */
export async function pullImage(ref: Reference, dir: string, options: TransferOptions & { tag?: string } = {}): Promise<TransferResult> {
  const { client, owned } = clientFor(ref, options);
  try {
    const top = await client.getManifest(ref.repository, manifestReference(ref));
    if (ref.digest !== undefined && top.digest !== ref.digest) {
      throw new IntegrityError('EINTEGRITY', `${formatReference(ref)}: the registry returned manifest ${top.digest}`);
    }
    const where = formatReference(ref);
    // Checked before the layout is created: a refused pull leaves no folder behind.
    const parsed = parsePulledManifest(top.bytes, top.mediaType, where);
    const layout = await OciLayout.create(dir);
    await pullTree(client, ref, layout, top, parsed, options);
    const descriptor: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
    const tag = options.tag ?? ref.tag;
    if (tag !== undefined) await layout.setTag(tag, descriptor);
    return { digest: top.digest, ref: resultRef(ref, top.digest) };
  } finally {
    if (owned) client.close();
  }
}

async function pullTree(client: RegistryClient, ref: Reference, layout: OciLayout, top: FetchedManifest, parsed: PulledManifest, options: TransferOptions): Promise<void> {
  if (parsed.kind === 'index') {
    for (const child of parsed.index.manifests) {
      const fetched = await client.getManifest(ref.repository, child.digest);
      const where = formatReference({ registry: ref.registry, repository: ref.repository, digest: child.digest });
      await pullTree(client, ref, layout, fetched, parsePulledManifest(fetched.bytes, fetched.mediaType, where), options);
    }
  } else {
    const manifest = parsed.manifest;
    await mapLimit([manifest.config, ...manifest.layers], options.concurrency ?? 3, async (d) => {
      if ((await layout.blobs.has(d.digest)) && (await layout.blobs.size(d.digest)) === d.size) {
        options.onProgress?.({ digest: d.digest, bytes: d.size, total: d.size, state: 'present' });
        return;
      }
      const stream = await client.fetchBlob(ref.repository, d.digest, d.size);
      const onProgress = options.onProgress;
      async function* counted(): AsyncGenerator<Buffer> {
        let received = 0;
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          received += chunk.length;
          onProgress?.({ digest: d.digest, bytes: received, total: d.size, state: 'downloading' });
          yield chunk;
        }
      }
      await layout.blobs.put(Readable.from(counted(), { objectMode: false }), { digest: d.digest, size: d.size });
      options.onProgress?.({ digest: d.digest, bytes: d.size, total: d.size, state: 'downloaded' });
    });
  }
  await layout.blobs.putBytes(top.bytes, { digest: top.digest, size: top.bytes.length });
}
