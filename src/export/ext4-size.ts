/**
 * How big an ext4 image must be for a tree, computed from the tree's
 * entries as they are materialized, with the layout mke2fs uses for the
 * fixed parameters eib passes (4 KiB blocks, 256-byte inodes, 64-bit group
 * descriptors, sparse_super, resize_inode, a journal sized as
 * ext2fs_default_journal_size does). The estimate errs on the large side by
 * a few blocks; an explicit size below it is refused before mke2fs runs.
 */
import type { TarHeader } from '../layer/tar-header.js';

export const BLOCK_SIZE = 4096;
export const INODE_SIZE = 256;
const BLOCKS_PER_GROUP = 32768;
const DESC_SIZE = 64;
/** In-inode xattr space of a 256-byte inode with 32 bytes of extra fields, less the 4-byte header. */
const INLINE_XATTR_SPACE = INODE_SIZE - 128 - 32 - 4;
/** Inodes mke2fs reserves (1-10) and lost+found (11). */
const RESERVED_INODES = 11;
/** mke2fs' default bytes-per-inode ratio, used when the size leaves room for more inodes. */
const INODE_RATIO = 16384;
/** The smallest image that gets a journal (ext2fs_default_journal_size). */
const MIN_BLOCKS = 2048;

export interface TreeUsage {
  /** Inodes of the tree (hardlinks share one), the root included. */
  inodes: number;
  /** Data blocks: file contents, directory blocks, long symlinks, xattr blocks. */
  dataBlocks: number;
  /** Bytes of file content (for messages). */
  contentBytes: number;
}

/** Counts what a tree needs while its entries go by. */
export class UsageCounter {
  private inodes = 1; // the root
  private fileBlocks = 0;
  private xattrBlocks = 0;
  private contentBytes = 0;
  /** Bytes of directory entries per directory path ("" is the root). */
  private readonly dirBytes = new Map<string, number>([['', 0]]);

  /** A directory that exists (from an entry or created as a missing parent). */
  directory(path: string): void {
    if (this.dirBytes.has(path)) return;
    this.dirBytes.set(path, 0);
    this.inodes++;
    this.name(path);
  }

  /** Any non-directory entry; hardlinks add a name but no inode. */
  entry(h: TarHeader): void {
    this.name(h.path);
    if (h.type === 'link') return;
    this.inodes++;
    if (h.type === 'file') {
      this.fileBlocks += Math.ceil(h.size / BLOCK_SIZE);
      this.contentBytes += h.size;
    }
    // Targets of 60 bytes or more do not fit in the inode (fast symlinks).
    if (h.type === 'symlink' && Buffer.byteLength(h.linkname, 'latin1') >= 60) this.fileBlocks++;
    this.xattrs(h);
  }

  /** Extended attributes that overflow the inode take a block. */
  xattrs(h: TarHeader): void {
    let bytes = 0;
    for (const [name, value] of h.xattrs) bytes += 16 + round4(Buffer.byteLength(name, 'latin1')) + round4(value.length);
    if (bytes > INLINE_XATTR_SPACE) this.xattrBlocks++;
  }

  usage(): TreeUsage {
    let dirBlocks = 0;
    for (const bytes of this.dirBytes.values()) {
      // "." and "..", and the 12-byte checksum tail of each block (metadata_csum).
      const blocks = Math.max(1, Math.ceil((bytes + 24) / (BLOCK_SIZE - 12)));
      dirBlocks += blocks === 1 ? 1 : blocks + Math.ceil(blocks / 500) + 1; // htree index blocks
    }
    return { inodes: this.inodes, dataBlocks: this.fileBlocks + this.xattrBlocks + dirBlocks, contentBytes: this.contentBytes };
  }

  private name(path: string): void {
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? '' : path.slice(0, slash);
    const name = Buffer.byteLength(path.slice(slash + 1), 'latin1');
    this.dirBytes.set(parent, (this.dirBytes.get(parent) ?? 0) + round4(8 + name));
  }
}

export interface Ext4Geometry {
  blocks: number;
  inodes: number;
  /** Image size in bytes (blocks × 4096). */
  bytes: number;
}

/** The smallest image that holds `usage`. */
export function minimumGeometry(usage: TreeUsage): Ext4Geometry {
  const inodes = usage.inodes + RESERVED_INODES;
  return geometry(fitBlocks(usage.dataBlocks, inodes), inodes);
}

/** The default: the content plus 25% (at least 16 MiB) of room, and inodes to match. */
export function defaultGeometry(usage: TreeUsage): Ext4Geometry {
  const room = Math.max(Math.ceil(usage.dataBlocks / 4), (16 * 2 ** 20) / BLOCK_SIZE);
  let inodes = Math.ceil(usage.inodes * 1.25) + RESERVED_INODES + 64;
  let blocks = fitBlocks(usage.dataBlocks + room, inodes);
  inodes = Math.max(inodes, Math.floor((blocks * BLOCK_SIZE) / INODE_RATIO));
  blocks = fitBlocks(usage.dataBlocks + room, inodes);
  // Round up to whole MiB; the extra blocks are free space.
  blocks = Math.ceil(blocks / 256) * 256;
  return geometry(blocks, inodes);
}

/** An explicit size: undefined when it cannot hold `usage`. */
export function explicitGeometry(usage: TreeUsage, bytes: number): Ext4Geometry | undefined {
  const blocks = Math.floor(bytes / BLOCK_SIZE);
  const needed = usage.inodes + RESERVED_INODES;
  // Give the image mke2fs' usual inode density when it has room for it.
  for (const inodes of [Math.max(needed + 64, Math.floor(bytes / INODE_RATIO)), needed]) {
    if (fitBlocks(usage.dataBlocks, inodes) <= blocks) return geometry(blocks, inodes);
  }
  return undefined;
}

function geometry(blocks: number, inodes: number): Ext4Geometry {
  return { blocks, inodes, bytes: blocks * BLOCK_SIZE };
}

/** Total blocks so that data plus the metadata of a filesystem that size fit. */
function fitBlocks(dataBlocks: number, inodes: number): number {
  let total = Math.max(MIN_BLOCKS, dataBlocks);
  for (let i = 0; i < 20; i++) {
    const next = Math.max(MIN_BLOCKS, dataBlocks + overheadBlocks(total, inodes));
    if (next <= total) return total;
    total = next;
  }
  return total;
}

/** Metadata blocks of an ext4 filesystem of `total` blocks and `inodes` inodes. */
export function overheadBlocks(total: number, inodes: number): number {
  const groups = Math.ceil(total / BLOCKS_PER_GROUP);
  const perBlock = BLOCK_SIZE / INODE_SIZE;
  const inodesPerGroup = Math.ceil(Math.ceil(inodes / groups) / perBlock) * perBlock;
  const inodeTables = groups * ((inodesPerGroup * INODE_SIZE) / BLOCK_SIZE);
  const gdt = Math.ceil((groups * DESC_SIZE) / BLOCK_SIZE);
  const copies = superblockCopies(groups);
  const fixed = 1 /* root */ + 4 /* lost+found */ + 1 /* resize inode */ + 16; /* slack */
  return inodeTables + 2 * groups + copies * (1 + gdt + reservedGdtBlocks(total, gdt)) + journalBlocks(total) + fixed;
}

/** Groups holding a superblock copy with sparse_super: 0, 1 and powers of 3, 5 and 7. */
function superblockCopies(groups: number): number {
  const holders = new Set([0, 1]);
  for (const base of [3, 5, 7]) for (let g = base; g < groups; g *= base) holders.add(g);
  return [...holders].filter((g) => g < groups).length;
}

/** resize_inode reserves descriptor blocks for growth to 1024× (calc_reserved_gdt_blocks). */
function reservedGdtBlocks(total: number, gdt: number): number {
  const maxBlocks = Math.min(2 ** 32 - 1, total * 1024);
  const groups = Math.ceil(maxBlocks / BLOCKS_PER_GROUP);
  const reserved = Math.ceil(groups / (BLOCK_SIZE / DESC_SIZE)) - gdt;
  return Math.max(0, Math.min(reserved, BLOCK_SIZE / 4));
}

/** ext2fs_default_journal_size for 4 KiB blocks. */
export function journalBlocks(total: number): number {
  if (total < MIN_BLOCKS) return 0;
  const steps: [number, number][] = [
    [32768, 1024],
    [256 * 1024, 4096],
    [512 * 1024, 8192],
    [4096 * 1024, 16384],
    [8192 * 1024, 32768],
    [16384 * 1024, 65536],
    [32768 * 1024, 131072],
  ];
  for (const [below, size] of steps) if (total < below) return size;
  return 262144;
}

function round4(n: number): number {
  return (n + 3) & ~3;
}
