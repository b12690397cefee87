/**
 * Push an image (config and layers in parallel, then the manifest; for an
 * index, each platform manifest first, then the index) and pull one into an
 * OCI layout (each blob verified into a temp file, then renamed to its digest).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IntegrityError, UsageError } from '../errors.js';
import { Annotation, MediaType, type Descriptor, type Digest, type ImageIndex, type ImageManifest } from '../oci/types.js';
import { RegistryClient, type BlobPushResult, type RegistryClientOptions } from './client.js';
import { blobPath, type ImageSource } from './image-source.js';
import { formatReference, manifestReference, type Reference } from './reference.js';
import { sha256Digest } from './verify.js';

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

const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.ImageIndex, MediaType.DockerManifestList]);

/** Run `fn` over `items` with at most `limit` running at once. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new IntegrityError('EINTEGRITY', `${what} is not valid JSON`);
  }
}

async function readAll(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      stream.destroy();
      throw new IntegrityError('EBADSIZE', `${what} is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function clientFor(ref: Reference, options: TransferOptions): { client: RegistryClient; owned: boolean } {
  if (options.client) return { client: options.client, owned: false };
  return { client: new RegistryClient(ref.registry, options), owned: true };
}

function resultRef(ref: Reference, digest: Digest): string {
  return formatReference(ref.tag !== undefined ? { registry: ref.registry, repository: ref.repository, tag: ref.tag } : { registry: ref.registry, repository: ref.repository, digest });
}

/** Push the image `source` names to `ref`; returns the manifest digest. */
export async function pushImage(source: ImageSource, ref: Reference, options: TransferOptions = {}): Promise<TransferResult> {
  const { client, owned } = clientFor(ref, options);
  try {
    const top = await source.manifest();
    if (ref.digest !== undefined && ref.digest !== top.descriptor.digest) {
      throw new UsageError(`${formatReference(ref)} pins digest ${ref.digest}, but the image to push is ${top.descriptor.digest}; drop the @digest part`);
    }
    await client.ping();
    await pushTree(client, source, ref.repository, top.descriptor, top.bytes, ref.tag ?? top.descriptor.digest, options);
    return { digest: top.descriptor.digest, ref: resultRef(ref, top.descriptor.digest) };
  } finally {
    if (owned) client.close();
  }
}

async function pushTree(client: RegistryClient, source: ImageSource, repository: string, descriptor: Descriptor, bytes: Buffer, reference: string, options: TransferOptions): Promise<void> {
  const what = `manifest ${descriptor.digest}`;
  if (INDEX_TYPES.has(descriptor.mediaType)) {
    const index = parseJson<ImageIndex>(bytes, what);
    for (const child of index.manifests) {
      const blob = await source.blob(child.digest);
      const childBytes = await readAll(blob.open(), 4 << 20, `manifest ${child.digest}`);
      if (sha256Digest(childBytes) !== child.digest) throw new IntegrityError('EINTEGRITY', `the local manifest ${child.digest} does not match its digest; rebuild the image`);
      await pushTree(client, source, repository, child, childBytes, child.digest, options);
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
}

/**
 * Pull `ref` into the OCI layout `dir`, tagging it `ref.tag` (or `tag`).
 * Blobs already present are kept; new ones are verified before they land.
 */
export async function pullImage(ref: Reference, dir: string, options: TransferOptions & { tag?: string } = {}): Promise<TransferResult> {
  const { client, owned } = clientFor(ref, options);
  try {
    const top = await client.getManifest(ref.repository, manifestReference(ref));
    if (ref.digest !== undefined && top.digest !== ref.digest) {
      throw new IntegrityError('EINTEGRITY', `${formatReference(ref)}: the registry returned manifest ${top.digest}`);
    }
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
    await pullTree(client, ref.repository, dir, top.bytes, top.mediaType, top.digest, options);
    const tag = options.tag ?? ref.tag;
    const descriptor: Descriptor = {
      mediaType: top.mediaType,
      digest: top.digest,
      size: top.bytes.length,
      ...(tag !== undefined ? { annotations: { [Annotation.RefName]: tag } } : {}),
    };
    await addToIndex(dir, descriptor);
    return { digest: top.digest, ref: resultRef(ref, top.digest) };
  } finally {
    if (owned) client.close();
  }
}

async function pullTree(client: RegistryClient, repository: string, dir: string, bytes: Buffer, mediaType: string, digest: Digest, options: TransferOptions): Promise<void> {
  if (INDEX_TYPES.has(mediaType)) {
    const index = parseJson<ImageIndex>(bytes, `manifest ${digest}`);
    for (const child of index.manifests) {
      const m = await client.getManifest(repository, child.digest);
      await pullTree(client, repository, dir, m.bytes, m.mediaType, m.digest, options);
    }
  } else {
    const manifest = parseJson<ImageManifest>(bytes, `manifest ${digest}`);
    await mapLimit([manifest.config, ...manifest.layers], options.concurrency ?? 3, async (d) => {
      const target = blobPath(dir, d.digest);
      const present = await stat(target).then((s) => s.size === d.size, () => false);
      if (present) {
        options.onProgress?.({ digest: d.digest, bytes: d.size, total: d.size, state: 'present' });
        return;
      }
      const stream = await client.fetchBlob(repository, d.digest, d.size);
      let received = 0;
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        options.onProgress?.({ digest: d.digest, bytes: received, total: d.size, state: 'downloading' });
      });
      await writeAtomically(target, stream);
      options.onProgress?.({ digest: d.digest, bytes: d.size, total: d.size, state: 'downloaded' });
    });
  }
  await writeBlobBytes(dir, digest, bytes);
}

async function writeAtomically(target: string, stream: Readable): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await pipeline(stream, createWriteStream(temp, { flags: 'wx' }));
    await rename(temp, target);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

async function writeBlobBytes(dir: string, digest: Digest, bytes: Buffer): Promise<void> {
  const target = blobPath(dir, digest);
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(temp, bytes);
  await rename(temp, target);
}

/** Add (or replace, by tag) a descriptor in index.json, atomically. */
async function addToIndex(dir: string, descriptor: Descriptor): Promise<void> {
  const path = join(dir, 'index.json');
  let index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
  try {
    index = JSON.parse(await readFile(path, 'utf8')) as ImageIndex;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const tag = descriptor.annotations?.[Annotation.RefName];
  index.manifests = index.manifests.filter((m) => (tag !== undefined ? m.annotations?.[Annotation.RefName] !== tag : m.digest !== descriptor.digest));
  index.manifests.push(descriptor);
  const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(temp, `${JSON.stringify(index, null, 2)}\n`);
  await rename(temp, path);
}
