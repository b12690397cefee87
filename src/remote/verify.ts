/**
 * Digest and size checks on content as it streams: the stream fails with an
 * IntegrityError (EBADSIZE as soon as too many bytes arrive, EINTEGRITY or
 * EBADSIZE at the end) instead of handing over content that is not what its
 * digest names.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError } from '../errors.js';
import type { Digest } from '../oci/types.js';

const ALGORITHMS: Readonly<Record<string, string>> = { sha256: 'sha256', sha512: 'sha512' };

export function hashFor(digest: Digest, what: string): Hash {
  const algorithm = ALGORITHMS[digest.slice(0, digest.indexOf(':'))];
  if (!algorithm) throw new IntegrityError('EINTEGRITY', `${what}: unsupported digest algorithm in ${digest}`);
  return createHash(algorithm);
}

/** A pass-through that checks the bytes against `digest` (and `size` when known). */
export class DigestVerifier extends Transform {
  readonly digest: Digest;
  private readonly hash: Hash;
  private readonly size: number | undefined;
  private readonly what: string;
  bytes = 0;

  constructor(digest: Digest, size: number | undefined, what: string) {
    super();
    this.digest = digest;
    this.size = size;
    this.what = what;
    this.hash = hashFor(digest, what);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.size !== undefined && this.bytes > this.size) {
      callback(new IntegrityError('EBADSIZE', `${this.what}: received more than the expected ${this.size} bytes for ${this.digest}`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.size !== undefined && this.bytes !== this.size) {
      callback(new IntegrityError('EBADSIZE', `${this.what}: received ${this.bytes} bytes, expected ${this.size} for ${this.digest}`));
      return;
    }
    const actual = `${this.digest.slice(0, this.digest.indexOf(':'))}:${this.hash.digest('hex')}`;
    if (actual !== this.digest) {
      callback(new IntegrityError('EINTEGRITY', `${this.what}: content does not match its digest: expected ${this.digest}, got ${actual}; refusing it`));
      return;
    }
    callback();
  }
}
