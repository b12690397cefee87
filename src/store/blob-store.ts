/**
 * A content-addressed blob store laid out like an OCI image layout
 * (`<root>/blobs/sha256/<hex>`). Writes stream through a hash into a temp
 * file under `<root>/tmp` (same filesystem), are fsynced, checked against
 * what the caller expected and renamed into place: a blob path either does
 * not exist or holds exactly the content its name says, even with
 * concurrent writers and readers.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { IntegrityError } from '../errors.js';
import { canonicalJsonBytes } from '../oci/canonical-json.js';
import { digestHex, digestOf } from '../oci/digest.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { cacheDamaged, StoreError } from './errors.js';
import { HashCounter } from './hash-stream.js';
import { syncFile } from '../fs/atomic-write.js';
import { exists, readdirIfExists } from '../fs/stat.js';

export interface BlobRef {
  digest: Digest;
  size: number;
}

export interface BlobCheck {
  digest: Digest;
  ok: boolean;
  reason?: string;
}

const HEX64 = /^[a-f0-9]{64}$/;

export class BlobStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get blobsDir(): string {
    return join(this.root, 'blobs', 'sha256');
  }

  get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  path(digest: Digest): string {
    return join(this.blobsDir, digestHex(digest));
  }

  /**
   * Stream `source` into the store. With `expected`, a mismatching size is an
   * EBADSIZE and a mismatching digest an EINTEGRITY error (checked as the
   * data flows for the size); nothing is left behind on failure.
   */
  async put(source: Readable, expected?: BlobRef): Promise<BlobRef> {
    if (expected) digestHex(expected.digest);
    // The temp folder is made by createTemp: another process may remove it at any moment.
    await mkdir(this.blobsDir, { recursive: true });
    const tmp = join(this.tmpDir, `blob-${process.pid}-${randomBytes(8).toString('hex')}`);
    const counter = new HashCounter(
      expected === undefined
        ? undefined
        : { limit: expected.size, error: () => new IntegrityError('EBADSIZE', sizeMessage(expected, `more than ${expected.size}`)) },
    );
    try {
      const handle = await createTemp(this.tmpDir, tmp);
      await pipeline(source, counter, createWriteStream('', { fd: handle }));
      await syncFile(tmp);
      const got: BlobRef = { digest: counter.digest, size: counter.size };
      if (expected && got.size !== expected.size) throw new IntegrityError('EBADSIZE', sizeMessage(expected, String(got.size)));
      if (expected && got.digest !== expected.digest) {
        throw new IntegrityError(
          'EINTEGRITY',
          `blob content does not match its digest: expected ${expected.digest}, got ${got.digest}; the source is corrupt or changed, fetch it again`,
        );
      }
      const dest = this.path(got.digest);
      if (await exists(dest)) {
        // Same name, same content: keep the blob already there (readers may hold it open).
        await rm(tmp, { force: true });
      } else {
        await rename(tmp, dest);
      }
      return got;
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async putBytes(data: Uint8Array, expected?: BlobRef): Promise<BlobRef> {
    const digest = digestOf(data);
    if (!expected && (await this.has(digest))) return { digest, size: data.length };
    return this.put(Readable.from([Buffer.from(data)]), expected);
  }

  /** Store a JSON document in canonical form; returns its descriptor. */
  async putJson(value: unknown, mediaType: string): Promise<Descriptor> {
    const ref = await this.putBytes(canonicalJsonBytes(value));
    return { mediaType, digest: ref.digest, size: ref.size };
  }

  /**
   * Read a blob. By default the content is hashed while read and the stream
   * fails with ECACHEDAMAGED at its end if the file no longer matches its name.
   */
  open(digest: Digest, options: { verify?: boolean } = {}): Readable {
    const path = this.path(digest);
    // Larger reads than the default 64 KiB: layers are read whole, and each chunk passes through hashing, inflating and tar parsing.
    const file: ReadStream = createReadStream(path, { highWaterMark: 256 * 1024 });
    const out = options.verify === false ? new PassThrough() : new VerifyDigest(digest, path);
    file.on('error', (e: NodeJS.ErrnoException) => {
      out.destroy(e.code === 'ENOENT' ? missing(digest, this.root, e) : e);
    });
    out.on('close', () => file.destroy());
    return file.pipe(out);
  }

  async readBytes(digest: Digest): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.open(digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async readJson<T>(digest: Digest): Promise<T> {
    return JSON.parse((await this.readBytes(digest)).toString('utf8')) as T;
  }

  async has(digest: Digest): Promise<boolean> {
    return exists(this.path(digest));
  }

  async size(digest: Digest): Promise<number> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missing(digest, this.root, e);
      throw e;
    }
  }

  async delete(digest: Digest): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  /** Every blob's digest, sorted. */
  async list(): Promise<Digest[]> {
    const names = await readdirIfExists(this.blobsDir);
    return names.filter((n) => HEX64.test(n)).sort().map((n) => `sha256:${n}` as Digest);
  }

  /** Re-hash every blob and report those whose content does not match their name. */
  async verify(): Promise<BlobCheck[]> {
    const results: BlobCheck[] = [];
    for (const digest of await this.list()) {
      const hash = createHash('sha256');
      try {
        await pipeline(createReadStream(this.path(digest)), hash);
        const got = `sha256:${hash.digest('hex')}`;
        results.push(got === digest ? { digest, ok: true } : { digest, ok: false, reason: `content hashes to ${got}` });
      } catch (e) {
        results.push({ digest, ok: false, reason: (e as Error).message });
      }
    }
    return results;
  }
}

class VerifyDigest extends Transform {
  private readonly hash = createHash('sha256');

  constructor(
    private readonly expected: Digest,
    private readonly path: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const got = `sha256:${this.hash.digest('hex')}`;
    if (got === this.expected) done();
    else done(cacheDamaged(this.path, `hashes to ${got}, not to the digest it is named by`));
  }
}

function sizeMessage(expected: BlobRef, got: string): string {
  return `blob ${expected.digest} has the wrong size: expected ${expected.size} bytes, got ${got}; the source is truncated or corrupt`;
}

function missing(digest: Digest, root: string, cause: unknown): StoreError {
  return new StoreError('EBLOBMISSING', `blob ${digest} is missing from ${root}; rebuild, or pull the image again`, { cause });
}

/**
 * Create the temp file, recreating its folder if another process removed it
 * meanwhile (an OCI layout drops its empty tmp folder after each write).
 */
async function createTemp(dir: string, path: string): Promise<FileHandle> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open(path, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 10) throw e;
    }
    // A recursive mkdir fails with ENOENT itself when the folder it found is removed before it checks it: try again.
    await mkdir(dir, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
}
