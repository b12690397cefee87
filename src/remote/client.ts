/**
 * A client of one OCI registry (distribution-spec v1.1): blobs (HEAD before
 * upload, cross-repository mount, monolithic or resumable chunked upload,
 * verified download) and manifests (PUT/GET/HEAD by tag or digest).
 * https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { IntegrityError } from '../errors.js';
import { MediaType, type Descriptor, type Digest, type TagList } from '../oci/types.js';
import { RegistryError } from './errors.js';
import { discardBody, readCapped } from './http.js';
import type { RetryBudget } from './retry.js';
import { Transport, readSmallBody, type TransportOptions } from './transport.js';
import { hashFor, verifiedStream } from './verify.js';

export interface RegistryClientOptions extends TransportOptions {
  /** Blobs larger than this are uploaded in PATCH chunks (default 32 MiB). */
  readonly chunkThreshold?: number;
  /** Size of one PATCH chunk (default 8 MiB). */
  readonly chunkSize?: number;
}

/** Where a blob's bytes come from: its size and a reader of a byte range. */
export interface BlobContent {
  readonly digest: Digest;
  readonly size: number;
  /** A fresh stream of bytes [start, end] (inclusive), or all of it. */
  open(range?: { start: number; end: number }): Readable;
}

export type BlobPushResult = 'exists' | 'mounted' | 'uploaded';

export interface PushBlobOptions {
  /** Other repositories of this registry that may hold the blob. */
  readonly mountFrom?: readonly string[];
  /** Bytes of this blob the registry has received so far. */
  readonly onBytes?: (bytes: number) => void;
}

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: Digest;
}

/** The manifest types eib reads, best first. */
export const MANIFEST_ACCEPT = [MediaType.ImageManifest, MediaType.ImageIndex, MediaType.DockerManifest, MediaType.DockerManifestList].join(', ');

/** distribution-spec: registries must accept manifests of at least 4 MiB. */
const MANIFEST_LIMIT = 4 << 20;

function locationOf(res: IncomingMessage, what: string): string {
  const location = res.headers.location;
  discardBody(res);
  if (!location) throw new RegistryError('EREGISTRY', `${what}: the registry sent no Location for the upload`);
  return location;
}

/** "0-1023" → 1024 bytes received; absent → 0. */
function receivedFromRange(range: string | undefined): number | undefined {
  if (range === undefined) return undefined;
  const m = /^(?:bytes=)?(\d+)-(\d+)$/.exec(range.trim());
  return m ? Number(m[2]) + 1 : undefined;
}

function withDigest(location: string, base: URL, digest: Digest): string {
  const url = new URL(location, base);
  url.searchParams.set('digest', digest);
  return url.href;
}

export class RegistryClient {
  readonly registry: string;
  readonly transport: Transport;
  private readonly options: RegistryClientOptions;
  /** Repositories of this registry known to hold a blob (for mounts). */
  private readonly known = new Map<Digest, Set<string>>();

  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.options = options;
    this.transport = new Transport(registry, options);
  }

  /** Check that the registry answers (and how it wants to be authenticated). */
  async ping(): Promise<void> {
    await this.transport.base();
  }

  close(): void {
    this.transport.close();
  }

  /** Remember that `repository` holds `digest`, so later pushes can mount it. */
  remember(repository: string, digest: Digest): void {
    const set = this.known.get(digest) ?? new Set<string>();
    set.add(repository);
    this.known.set(digest, set);
  }

  /** Repositories known to hold a blob. */
  knownRepositories(digest: Digest): string[] {
    return [...(this.known.get(digest) ?? [])];
  }

  private scopes(repository: string, push: boolean, extra: readonly string[] = []): string[] {
    return [`repository:${repository}:${push ? 'pull,push' : 'pull'}`, ...extra.map((r) => `repository:${r}:pull`)];
  }

  /** The blob's size if the repository has it, else undefined. */
  async blobSize(repository: string, digest: Digest, push = false, retry?: RetryBudget): Promise<number | undefined> {
    const res = await this.transport.request({
      method: 'HEAD',
      url: `/v2/${repository}/blobs/${digest}`,
      scopes: this.scopes(repository, push),
      expect: [200, 404],
      what: `checking blob ${digest} in ${repository}`,
      ...(retry ? { retry } : {}),
    });
    discardBody(res);
    if (res.statusCode === 404) return undefined;
    this.remember(repository, digest);
    const length = Number(res.headers['content-length']);
    return Number.isFinite(length) ? length : undefined;
  }

  /**
   * Make the repository hold the blob: nothing when it already does, a
   * mount when another repository has it, else an upload. Every request
   * and restart of it draws on one retry budget.
   */
  async pushBlob(repository: string, blob: BlobContent, options: PushBlobOptions = {}): Promise<BlobPushResult> {
    const what = `pushing blob ${blob.digest} to ${repository}`;
    const retry = this.transport.budget(what);
    for (;;) {
      try {
        if ((await this.blobSize(repository, blob.digest, true, retry)) !== undefined) return 'exists';
        const from = [...new Set([...(options.mountFrom ?? []), ...this.knownRepositories(blob.digest)])].filter((r) => r !== repository);
        let location: string | undefined;
        // One mount attempt: its 202 answer opens the upload session we would need anyway.
        const source = from[0];
        if (source !== undefined) {
          const res = await this.transport.request({
            method: 'POST',
            url: `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(source)}`,
            scopes: this.scopes(repository, true, [source]),
            expect: [201, 202],
            retry,
            what,
          });
          if (res.statusCode === 201) {
            discardBody(res);
            this.remember(repository, blob.digest);
            return 'mounted';
          }
          location = locationOf(res, what);
        }
        location ??= locationOf(
          await this.transport.request({ method: 'POST', url: `/v2/${repository}/blobs/uploads/`, scopes: this.scopes(repository, true), expect: [202], retry, what }),
          what,
        );
        const threshold = this.options.chunkThreshold ?? 32 << 20;
        if (blob.size > threshold) await this.uploadChunked(repository, blob, location, retry, options.onBytes);
        else await this.uploadMonolithic(repository, blob, location, options.onBytes);
        this.remember(repository, blob.digest);
        return 'uploaded';
      } catch (e) {
        // A dropped or lost upload session starts over (after a HEAD: it may have landed).
        if (!(await retry.again({ error: e }))) throw e;
      }
    }
  }

  private async uploadMonolithic(repository: string, blob: BlobContent, location: string, onBytes?: (n: number) => void): Promise<void> {
    const what = `uploading blob ${blob.digest} to ${repository}`;
    const base = await this.transport.base();
    const res = await this.transport.request({
      method: 'PUT',
      url: withDigest(location, base, blob.digest),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) },
      body: () => countBytes(blob.size === 0 ? blob.open() : blob.open({ start: 0, end: blob.size - 1 }), 0, onBytes),
      scopes: this.scopes(repository, true),
      expect: [201],
      // A half-sent PUT spoils the session: pushBlob starts a new one.
      retry: false,
      what,
    }).catch((e: unknown) => {
      throw digestRejected(e, blob.digest, what);
    });
    discardBody(res);
  }

  /**
   * PATCH the blob in chunks. When a chunk is interrupted, ask the registry
   * how much it has (GET the upload: `Range: 0-<last>`) and go on from there.
   */
  private async uploadChunked(repository: string, blob: BlobContent, firstLocation: string, retry: RetryBudget, onBytes?: (n: number) => void): Promise<void> {
    const what = `uploading blob ${blob.digest} to ${repository}`;
    const chunkSize = this.options.chunkSize ?? 8 << 20;
    const scopes = this.scopes(repository, true);
    let location = firstLocation;
    let offset = 0;
    while (offset < blob.size) {
      const start = offset;
      const end = Math.min(blob.size, start + chunkSize) - 1;
      try {
        const res = await this.transport.request({
          method: 'PATCH',
          url: location,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${end}`, 'Content-Length': String(end - start + 1) },
          body: () => countBytes(blob.open({ start, end }), start, onBytes),
          scopes,
          expect: [202],
          retry: false,
          what,
        });
        location = locationOf(res, what);
        offset = receivedFromRange(res.headers.range) ?? end + 1;
      } catch (e) {
        if (!(await retry.again({ error: e }))) throw e;
        const status = await this.transport.request({ method: 'GET', url: location, scopes, expect: [204], retry, what: `${what} (asking how much arrived)` });
        location = status.headers.location ?? location;
        offset = receivedFromRange(status.headers.range as string | undefined) ?? 0;
        discardBody(status);
        onBytes?.(offset);
      }
    }
    const base = await this.transport.base();
    const res = await this.transport.request({ method: 'PUT', url: withDigest(location, base, blob.digest), scopes, expect: [201], retry, what }).catch((e: unknown) => {
      throw digestRejected(e, blob.digest, what);
    });
    discardBody(res);
  }

  /** A stream of the blob that fails with IntegrityError unless it matches its digest. */
  async fetchBlob(repository: string, digest: Digest, size?: number): Promise<Readable> {
    const what = `downloading blob ${digest} from ${this.registry}/${repository}`;
    const res = await this.transport.request({ method: 'GET', url: `/v2/${repository}/blobs/${digest}`, scopes: this.scopes(repository, false), expect: [200], what });
    const length = Number(res.headers['content-length']);
    if (size !== undefined && Number.isFinite(length) && length !== size) {
      res.destroy();
      throw new IntegrityError('EBADSIZE', `${what}: the registry announced ${length} bytes, the descriptor says ${size}`);
    }
    this.remember(repository, digest);
    return verifiedStream(res, digest, size, what);
  }

  /** PUT a manifest or index under a tag or its digest; returns its digest. */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Digest> {
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
    const what = `pushing manifest ${digest} to ${this.registry}/${repository}:${reference}`;
    const res = await this.transport.request({
      method: 'PUT',
      url: `/v2/${repository}/manifests/${reference}`,
      headers: { 'Content-Type': mediaType },
      body: bytes,
      scopes: this.scopes(repository, true),
      expect: [201],
      what,
    });
    discardBody(res);
    const said = res.headers['docker-content-digest'];
    if (typeof said === 'string' && said !== '' && said !== digest) {
      throw new IntegrityError('EINTEGRITY', `${what}: the registry stored it as ${said}, not ${digest}`);
    }
    return digest;
  }

  /** GET a manifest or index by tag or digest, verified against its digest. */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const what = `getting manifest ${this.registry}/${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    const res = await this.transport.request({
      method: 'GET',
      url: `/v2/${repository}/manifests/${reference}`,
      headers: { Accept: MANIFEST_ACCEPT },
      scopes: this.scopes(repository, false),
      expect: [200],
      what,
    });
    const said = res.headers['docker-content-digest'];
    // By digest, the reference is the truth; by tag, the registry's header is.
    const expected = (reference.includes(':') ? reference : typeof said === 'string' && said !== '' ? said : undefined) as Digest | undefined;
    const bytes = await readCapped(res, MANIFEST_LIMIT, () => new IntegrityError('EBADSIZE', `${what}: the manifest is larger than ${MANIFEST_LIMIT} bytes`));
    const algorithm = expected ? expected.slice(0, expected.indexOf(':')) : 'sha256';
    const actual = `${algorithm}:${hashFor(`${algorithm}:` as Digest, what).update(bytes).digest('hex')}` as Digest;
    if (expected && actual !== expected) {
      throw new IntegrityError('EINTEGRITY', `${what}: content does not match its digest: expected ${expected}, got ${actual}; refusing it`);
    }
    const contentType = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
    let mediaType: string;
    try {
      mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? contentType;
    } catch {
      throw new RegistryError(
        'EREGISTRY',
        `${what}: the registry sent ${contentType || 'a body without a content type'}, not an image manifest or index (it is not JSON); check the reference, and that ${this.registry} is the registry itself, not a web page or login portal in front of it`,
      );
    }
    return { bytes, mediaType, digest: actual };
  }

  /** HEAD a manifest: its descriptor, or undefined when it does not exist. */
  async headManifest(repository: string, reference: string): Promise<Descriptor | undefined> {
    const res = await this.transport.request({
      method: 'HEAD',
      url: `/v2/${repository}/manifests/${reference}`,
      headers: { Accept: MANIFEST_ACCEPT },
      scopes: this.scopes(repository, false),
      expect: [200, 404],
      what: `checking manifest ${this.registry}/${repository}:${reference}`,
    });
    discardBody(res);
    if (res.statusCode === 404) return undefined;
    const digest = res.headers['docker-content-digest'];
    if (typeof digest !== 'string' || digest === '') {
      // Some registries omit the header on HEAD; GET and hash instead.
      const m = await this.getManifest(repository, reference);
      return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    }
    return {
      mediaType: (res.headers['content-type'] ?? '').split(';')[0]!.trim(),
      digest: digest as Digest,
      size: Number(res.headers['content-length'] ?? 0),
    };
  }

  /** All tags of a repository (following Link pagination). */
  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = `/v2/${repository}/tags/list`;
    for (let page = 0; url !== undefined && page < 1000; page++) {
      const res = await this.transport.request({ method: 'GET', url, scopes: this.scopes(repository, false), expect: [200], what: `listing tags of ${this.registry}/${repository}` });
      const body = JSON.parse(await readSmallBody(res, 16 << 20)) as TagList;
      tags.push(...(body.tags ?? []));
      const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(res.headers.link ?? ''));
      url = link?.[1];
    }
    return tags;
  }
}

/** Report bytes as they leave, starting at `offset`. */
function countBytes(stream: Readable, offset: number, onBytes?: (n: number) => void): Readable {
  if (!onBytes) return stream;
  let sent = offset;
  stream.on('data', (chunk: Buffer) => {
    sent += chunk.length;
    onBytes(sent);
  });
  return stream;
}

/** A registry's DIGEST_INVALID means the local content is not what its digest says. */
function digestRejected(e: unknown, digest: Digest, what: string): unknown {
  if (e instanceof RegistryError && e.registryCodes.includes('DIGEST_INVALID')) {
    return new IntegrityError('EINTEGRITY', `${what}: the registry computed another digest than ${digest}: the local copy of this blob is corrupt; rebuild the image`, { cause: e });
  }
  return e;
}
