/**
 * bmaptool's block map (format 2.0) of a disk image, written by eib from
 * the image's content: every 4 KiB block that is not all zeros is mapped,
 * with a sha256 per range, so `bmaptool copy` writes only those and
 * verifies them. Reading the content rather than asking the host file
 * system for its extents (what `bmaptool create` does) makes the map the
 * same on every host for the same image bytes.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';

const BLOCK = 4096;
const READ = 1024 * BLOCK;
const ZERO_CHECKSUM = '0'.repeat(64);

export interface BlockRange {
  first: number;
  last: number;
  sha256: string;
}

/** The mapped ranges of an image, in one read. */
export async function mappedRanges(image: string): Promise<{ size: number; ranges: BlockRange[] }> {
  const fh = await open(image, 'r');
  const ranges: BlockRange[] = [];
  const zero = Buffer.alloc(BLOCK);
  const buf = Buffer.alloc(READ);
  let current: { first: number; hash: Hash } | undefined;
  let block = 0;
  let size = 0;
  const close = (): void => {
    if (current) ranges.push({ first: current.first, last: block - 1, sha256: current.hash.digest('hex') });
    current = undefined;
  };
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ, size);
      if (bytesRead === 0) break;
      for (let off = 0; off < bytesRead; off += BLOCK, block++) {
        const data = buf.subarray(off, Math.min(off + BLOCK, bytesRead));
        if (data.equals(zero.subarray(0, data.length))) {
          close();
        } else {
          current ??= { first: block, hash: createHash('sha256') };
          current.hash.update(data);
        }
      }
      size += bytesRead;
    }
    close();
  } finally {
    await fh.close();
  }
  return { size, ranges };
}

/** The bmap file's text; its checksum is over the text with the checksum field as zeros, as bmaptool checks it. */
export function bmapText(size: number, ranges: readonly BlockRange[]): string {
  const blocks = Math.ceil(size / BLOCK);
  const mapped = ranges.reduce((n, r) => n + r.last - r.first + 1, 0);
  const text = (checksum: string): string =>
    [
      '<?xml version="1.0" ?>',
      '<!-- Block map of a disk image written by eib: the blocks that hold data (all others are zeros). Flash it with: bmaptool copy IMAGE DEVICE -->',
      '<bmap version="2.0">',
      `    <ImageSize> ${size} </ImageSize>`,
      `    <BlockSize> ${BLOCK} </BlockSize>`,
      `    <BlocksCount> ${blocks} </BlocksCount>`,
      `    <MappedBlocksCount> ${mapped} </MappedBlocksCount>`,
      '    <ChecksumType> sha256 </ChecksumType>',
      `    <BmapFileChecksum> ${checksum} </BmapFileChecksum>`,
      '    <BlockMap>',
      ...ranges.map((r) => `        <Range chksum="${r.sha256}"> ${r.first === r.last ? r.first : `${r.first}-${r.last}`} </Range>`),
      '    </BlockMap>',
      '</bmap>',
      '',
    ].join('\n');
  return text(createHash('sha256').update(text(ZERO_CHECKSUM)).digest('hex'));
}

export async function writeBmap(image: string, bmap: string): Promise<{ mappedBlocks: number }> {
  const { size, ranges } = await mappedRanges(image);
  await writeFile(bmap, bmapText(size, ranges), { flag: 'wx', mode: 0o644 });
  return { mappedBlocks: ranges.reduce((n, r) => n + r.last - r.first + 1, 0) };
}
