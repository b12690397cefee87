/**
 * A pass-through that hashes and counts what flows through it, so a stream
 * is checked while it is written or read, never buffered whole.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Digest } from '../oci/types.js';

export class HashCounter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private result: Digest | undefined;

  /** @param limit fail as soon as more than this many bytes arrive */
  constructor(private readonly onOverflow?: { limit: number; error: () => Error }) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.onOverflow && this.bytes > this.onOverflow.limit) {
      done(this.onOverflow.error());
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  get size(): number {
    return this.bytes;
  }

  /** The sha256 of everything that passed; only once the stream has ended. */
  get digest(): Digest {
    this.result ??= `sha256:${this.hash.digest('hex')}`;
    return this.result;
  }
}
