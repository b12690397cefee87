/**
 * Flatten's header scans remembered by layer digest (store/derived.ts), so
 * exporting an image again, or an image that shares layers with one already
 * exported, decompresses each known layer once instead of twice. Entries
 * are stored as [index, path, type, hardlink target] rows.
 */
import type { EntryType } from './tar-header.js';
import type { ScanMemory } from './flatten.js';
import type { Digest } from '../oci/types.js';
import { DerivedStore } from '../store/derived.js';

type Row = [number, string, EntryType, string];

/** The ScanMemory of a stack of layers with these digests (bottom first), kept in the cache at `cacheDir`. */
export function rememberedScans(cacheDir: string, digests: readonly Digest[]): ScanMemory {
  const store = new DerivedStore<Row[]>(cacheDir, 'layer-scans');
  return {
    async get(layer) {
      const digest = digests[layer];
      const rows = digest === undefined ? undefined : await store.get(digest);
      if (!Array.isArray(rows)) return undefined;
      return rows.map(([index, path, type, target]) => ({ index, path, type, target }));
    },
    async set(layer, entries) {
      const digest = digests[layer];
      if (digest !== undefined) await store.set(digest, '', entries.map((e): Row => [e.index, e.path, e.type, e.target]));
    },
  };
}
