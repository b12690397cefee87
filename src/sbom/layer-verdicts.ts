/**
 * What a layer says about one path (see image-file.ts), remembered by the
 * layer's digest: a layer's content never changes under its digest, so a
 * rebuild that replaced only the top layer reads the new layer alone instead
 * of decompressing the whole image again to find the package database.
 * One small JSON file per (layer, path) under <cache>/sbom/layers, written
 * to a temporary name and renamed, so readers see a whole verdict or none;
 * anything unreadable is a miss and the layer is read again.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex } from '../oci/digest.js';
import type { Digest } from '../oci/types.js';
import type { LayerVerdict, LayerVerdictCache } from './image-file.js';
import { writeFileAtomic } from '../fs/atomic-write.js';

/** Larger file contents are not remembered (read from the layer each time): the cache holds small databases, not images. */
const MAX_CACHED_FILE_BYTES = 16 << 20;

interface Stored {
  layer: Digest;
  path: string;
  verdict: Exclude<LayerVerdict, { kind: 'file' }> | { kind: 'file'; content: string };
}

export class LayerVerdictFiles implements LayerVerdictCache {
  readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'sbom', 'layers');
  }

  private file(layer: Digest, path: string): string {
    return join(this.dir, `${digestHex(layer)}-${createHash('sha256').update(path).digest('hex').slice(0, 32)}.json`);
  }

  async get(layer: Digest, path: string): Promise<LayerVerdict | undefined> {
    let stored: Stored;
    try {
      stored = JSON.parse(await readFile(this.file(layer, path), 'utf8')) as Stored;
    } catch {
      return undefined;
    }
    if (stored.layer !== layer || stored.path !== path || typeof stored.verdict?.kind !== 'string') return undefined;
    const v = stored.verdict;
    return v.kind === 'file' ? { kind: 'file', content: Buffer.from(v.content, 'base64') } : v;
  }

  async set(layer: Digest, path: string, verdict: LayerVerdict): Promise<void> {
    if (verdict.kind === 'file' && verdict.content.length > MAX_CACHED_FILE_BYTES) return;
    const stored: Stored = { layer, path, verdict: verdict.kind === 'file' ? { kind: 'file', content: verdict.content.toString('base64') } : verdict };
    const target = this.file(layer, path);
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFileAtomic(target, JSON.stringify(stored));
    } catch {
      // Only a speed-up: an unwritable cache leaves the next SBOM to read the layer again.
    }
  }
}
