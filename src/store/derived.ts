/**
 * Facts derived from a blob, remembered by the blob's digest: a blob never
 * changes under its digest, so what was computed from it once (a layer's
 * entry list, what a layer says about a path) need not be computed again by
 * decompressing it. One JSON file per (kind, digest, key) under
 * <cache>/derived/<kind>/, written atomically (fs/atomic-write.ts), so
 * readers see a whole record or none; anything unreadable, or recorded for
 * another digest or key, is a miss. Only a speed-up: a failed write is
 * ignored and the fact is computed again next time.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { digestHex } from '../oci/digest.js';
import type { Digest } from '../oci/types.js';

interface Record<T> {
  digest: Digest;
  key: string;
  value: T;
}

export class DerivedStore<T> {
  readonly dir: string;

  constructor(cacheDir: string, kind: string) {
    this.dir = join(cacheDir, 'derived', kind);
  }

  private file(digest: Digest, key: string): string {
    const suffix = key === '' ? '' : `-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
    return join(this.dir, `${digestHex(digest)}${suffix}.json`);
  }

  async get(digest: Digest, key = ''): Promise<T | undefined> {
    let record: Record<T>;
    try {
      record = JSON.parse(await readFile(this.file(digest, key), 'utf8')) as Record<T>;
    } catch {
      return undefined;
    }
    return record !== null && typeof record === 'object' && record.digest === digest && record.key === key ? record.value : undefined;
  }

  async set(digest: Digest, key: string, value: T): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomic(this.file(digest, key), JSON.stringify({ digest, key, value } satisfies Record<T>));
    } catch {
      // Computed again next time.
    }
  }
}
