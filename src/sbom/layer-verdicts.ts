/**
 * What a layer says about one path (see image-file.ts), remembered by the
 * layer's digest (store/derived.ts): a rebuild that replaced only the top
 * layer reads the new layer alone instead of decompressing the whole image
 * again to find the package database.
 */
import { DerivedStore } from '../store/derived.js';
import type { Digest } from '../oci/types.js';
import type { LayerVerdict, LayerVerdictCache } from './image-file.js';

/** Larger file contents are not remembered (read from the layer each time): the cache holds small databases, not images. */
const MAX_CACHED_FILE_BYTES = 16 << 20;

type Stored = Exclude<LayerVerdict, { kind: 'file' }> | { kind: 'file'; content: string };

export class LayerVerdictFiles implements LayerVerdictCache {
  private readonly store: DerivedStore<Stored>;

  constructor(cacheDir: string) {
    this.store = new DerivedStore(cacheDir, 'layer-verdicts');
  }

  get dir(): string {
    return this.store.dir;
  }

  async get(layer: Digest, path: string): Promise<LayerVerdict | undefined> {
    const v = await this.store.get(layer, path);
    if (typeof v?.kind !== 'string') return undefined;
    return v.kind === 'file' ? { kind: 'file', content: Buffer.from(v.content, 'base64') } : v;
  }

  async set(layer: Digest, path: string, verdict: LayerVerdict): Promise<void> {
    if (verdict.kind === 'file' && verdict.content.length > MAX_CACHED_FILE_BYTES) return;
    await this.store.set(layer, path, verdict.kind === 'file' ? { kind: 'file', content: verdict.content.toString('base64') } : verdict);
  }
}
