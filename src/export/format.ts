/** What `eib export PATH` writes, from PATH's extension, and sizes as users write them. */
import { UsageError } from '../errors.js';
import { bytesFromSize, SIZE_PATTERN } from '../config/bytes.js';

export type ExportFormat = 'tar' | 'tar.gz' | 'ext4' | 'squashfs' | 'erofs' | 'cpio' | 'cpio.gz';

const EXTENSIONS: readonly [string, ExportFormat][] = [
  ['.tar.gz', 'tar.gz'],
  ['.tgz', 'tar.gz'],
  ['.tar', 'tar'],
  ['.ext4', 'ext4'],
  ['.img', 'ext4'],
  ['.squashfs', 'squashfs'],
  ['.sqfs', 'squashfs'],
  ['.erofs', 'erofs'],
  ['.cpio.gz', 'cpio.gz'],
  ['.cpio', 'cpio'],
];

export const SUPPORTED_EXTENSIONS = EXTENSIONS.map(([ext]) => ext);

export function formatFromPath(path: string): ExportFormat {
  const lower = path.toLowerCase();
  const found = EXTENSIONS.find(([ext]) => lower.endsWith(ext) && lower.length > ext.length && !lower.endsWith(`/${ext}`));
  if (found === undefined) {
    throw new UsageError(`cannot tell the export format of ${path}: name a file ending in ${SUPPORTED_EXTENSIONS.join(', ')} (.tar/.tar.gz: flattened rootfs; .ext4/.img: ext4 image; .squashfs/.sqfs, .erofs: read-only images; .cpio.gz/.cpio: initramfs)`);
  }
  return found[1];
}

/** Bytes from a number or "512M", "2G", "1.5G", "4096" (binary units; an optional trailing "B" or "iB"). */
export function parseSize(size: number | string): number {
  const bytes = bytesFromSize(size);
  if (bytes !== undefined) return bytes;
  if (typeof size === 'number') throw new UsageError(`invalid size ${size}: give a positive whole number of bytes`);
  if (!SIZE_PATTERN.test(size)) throw new UsageError(`invalid size "${size}": use bytes or a number with K, M, G or T (e.g. 512M, 2G)`);
  throw new UsageError(`invalid size "${size}": it must be more than 0 bytes`);
}

/** Sizes as `--size` accepts them, rounded up to whole MiB: "97M". */
export function sizeArgument(bytes: number): string {
  return `${Math.ceil(bytes / 2 ** 20)}M`;
}
