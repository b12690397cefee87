/**
 * Digest and size checks on content as it streams: the consumer gets an
 * IntegrityError (EBADSIZE as soon as too many bytes arrive, EINTEGRITY or
 * EBADSIZE at the end) instead of content that is not what its digest names.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { IntegrityError } from '../errors.js';
import type { Digest } from '../oci/types.js';

const ALGORITHMS: Readonly<Record<string, string>> = { sha256: 'sha256', sha512: 'sha512' };

export function hashFor(digest: Digest, what: string): Hash {
  const algorithm = ALGORITHMS[digest.slice(0, digest.indexOf(':'))];
  if (!algorithm) throw new IntegrityError('EINTEGRITY', `${what}: unsupported digest algorithm in ${digest}`);
  return createHash(algorithm);
}

/** Hashes and counts chunks; `finish` throws unless they match. */
export class DigestCheck {
  readonly digest: Digest;
  private readonly hash: Hash;
  private readonly size: number | undefined;
  private readonly what: string;
  bytes = 0;

  constructor(digest: Digest, size: number | undefined, what: string) {
    this.digest = digest;
    this.size = size;
    this.what = what;
    this.hash = hashFor(digest, what);
  }

  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.size !== undefined && this.bytes > this.size) {
      throw new IntegrityError('EBADSIZE', `${this.what}: received more than the expected ${this.size} bytes for ${this.digest}`);
    }
    this.hash.update(chunk);
  }

  finish(): void {
    if (this.size !== undefined && this.bytes !== this.size) {
      throw new IntegrityError('EBADSIZE', `${this.what}: received ${this.bytes} bytes, expected ${this.size} for ${this.digest}`);
    }
    const actual = `${this.digest.slice(0, this.digest.indexOf(':'))}:${this.hash.digest('hex')}`;
    if (actual !== this.digest) {
      throw new IntegrityError('EINTEGRITY', `${this.what}: content does not match its digest: expected ${this.digest}, got ${actual}; refusing it`);
    }
  }
}

/**
 * A lazy stream of `source` that fails unless the bytes match. Nothing is
 * read before the consumer reads, so no error can fire unheard.
 */
export function verifiedStream(source: Readable, digest: Digest, size: number | undefined, what: string): Readable {
  const check = new DigestCheck(digest, size, what);
  async function* run(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        check.update(chunk);
        yield chunk;
      }
      check.finish();
    } finally {
      source.destroy();
    }
  }
  return Readable.from(run(), { objectMode: false });
}
