/**
 * The entries of a tar (a layer, or a flattened rootfs) as a map by path:
 * type, mode, owner, size, link target and the sha256 of each regular
 * file's content, hashed while it streams. Nothing is unpacked; a few small
 * files a caller names (the apk database) are kept in memory.
 */
import { createHash } from 'node:crypto';
import type { EntryType } from './tar-header.js';
import { readTar } from './tar-reader.js';
import { normalizeEntryPath } from './entry-path.js';

export interface TreeEntry {
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Content bytes of a regular file; 0 otherwise. */
  size: number;
  /** Symlink target, or the path a hardlink points at. */
  linkname: string;
  /** sha256 hex of a regular file's content. */
  sha256?: string;
}

export interface Tree {
  /** By path relative to the root, without "./" ("" is the root). */
  entries: Map<string, TreeEntry>;
  /** Content of the regular files asked for in `keep`. */
  kept: Map<string, Buffer>;
}

/** Read an uncompressed tar (see `uncompressed` for a layer blob). */
export async function readTree(tar: AsyncIterable<Buffer>, options: { keep?: readonly string[]; name?: string } = {}): Promise<Tree> {
  const entries = new Map<string, TreeEntry>();
  const kept = new Map<string, Buffer>();
  const keep = new Set(options.keep ?? []);
  for await (const entry of readTar(tar)) {
    const h = entry.header;
    const path = normalizeEntryPath(h.path, options.name ?? 'tar');
    const item: TreeEntry = { type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, size: h.type === 'file' ? h.size : 0, linkname: h.linkname };
    if (h.type === 'file') {
      const hash = createHash('sha256');
      const chunks: Buffer[] | undefined = keep.has(path) ? [] : undefined;
      for await (const chunk of entry.body()) {
        hash.update(chunk);
        chunks?.push(chunk);
      }
      item.sha256 = hash.digest('hex');
      if (chunks) kept.set(path, Buffer.concat(chunks));
    }
    entries.set(path, item);
  }
  return { entries, kept };
}

