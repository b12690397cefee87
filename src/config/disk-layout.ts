/**
 * Where the partitions of outputs.disk go, and what may not overlap: the
 * rules shared by the config check (with the sizes written in eib.yaml)
 * and the disk export (once auto sizes are known). Pure: no I/O.
 *
 * The partition table takes the first sector (MBR), or the first 34
 * sectors and the last 33 (GPT with sfdisk's 128 entries). A partition
 * without a start begins at the next multiple of `align` after the
 * previous one; the disk ends at its given size, or at the last partition
 * plus the backup GPT, rounded up to `align`.
 */
export const SECTOR = 512;
const GPT_PRIMARY = 34 * SECTOR;
const GPT_BACKUP = 33 * SECTOR;
const MBR_MAX_PARTITIONS = 4;
const MBR_MAX_BYTES = 2 ** 32 * SECTOR;

export interface LayoutInput<L> {
  table: 'gpt' | 'mbr';
  align: number;
  diskSize?: number;
  /** size undefined: not known yet (auto before the build). */
  partitions: readonly { name: string; size?: number; start?: number; at: L; sizeAt: L; startAt: L }[];
  /** length undefined: not known yet (a file of the image before the build). */
  raw: readonly { offset: number; length?: number; at: L }[];
}

export interface Extent {
  start: number;
  size: number;
}

export interface Layout<L> {
  /** Each partition's place, undefined where an unknown size comes before it. */
  partitions: (Extent | undefined)[];
  /** The disk's size, when every partition's is known or the disk's is given. */
  diskSize?: number;
  problems: { at: L; message: string }[];
}

export function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** "8 KiB" for whole KiB/MiB/GiB, else bytes. */
export function showOffset(n: number): string {
  if (n === 0) return '0';
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  return `${n} bytes`;
}

export function planLayout<L>(input: LayoutInput<L>): Layout<L> {
  const problems: Layout<L>['problems'] = [];
  const gpt = input.table === 'gpt';
  const table = gpt ? 'GPT' : 'MBR';
  const firstUsable = gpt ? GPT_PRIMARY : SECTOR;
  const placed: (Extent | undefined)[] = [];
  let cursor: number | undefined = firstUsable;

  if (!gpt && input.partitions.length > MBR_MAX_PARTITIONS) {
    problems.push({ at: input.partitions[MBR_MAX_PARTITIONS]!.at, message: `an MBR table holds at most ${MBR_MAX_PARTITIONS} partitions (eib writes no extended partitions); use table: gpt, or fewer partitions` });
  }
  for (const p of input.partitions) {
    if (p.size !== undefined && p.size % SECTOR !== 0) problems.push({ at: p.sizeAt, message: `partition "${p.name}": size ${p.size} bytes is not a whole number of ${SECTOR}-byte sectors; use K or M units` });
    let start: number | undefined;
    if (p.start !== undefined) {
      start = p.start;
      if (start % SECTOR !== 0) problems.push({ at: p.startAt, message: `partition "${p.name}": start ${start} bytes is not a whole number of ${SECTOR}-byte sectors` });
      if (start < firstUsable) problems.push({ at: p.startAt, message: `partition "${p.name}" starts at ${showOffset(start)}, inside the ${table} (its first ${showOffset(firstUsable)}); start it at ${showOffset(alignUp(firstUsable, input.align))} or later` });
    } else if (cursor !== undefined) {
      start = alignUp(cursor, input.align);
    }
    const extent = start !== undefined && p.size !== undefined ? { start, size: p.size } : undefined;
    if (start !== undefined) {
      for (const [j, other] of placed.entries()) {
        if (other === undefined) continue;
        // With its size unknown, a partition overlaps another only if it starts inside it.
        const end = extent === undefined ? start + 1 : start + extent.size;
        if (!(start < other.start + other.size && other.start < end)) continue;
        const q = input.partitions[j]!;
        problems.push({
          at: p.start !== undefined ? p.startAt : p.sizeAt,
          message: `partition "${p.name}" (from ${showOffset(start)}${extent ? ` to ${showOffset(start + extent.size)}` : ''}) overlaps partition "${q.name}" (${showOffset(other.start)} to ${showOffset(other.start + other.size)}); move its start or make "${q.name}" smaller`,
        });
      }
    }
    placed.push(extent);
    cursor = extent ? extent.start + extent.size : undefined;
  }

  const ends = placed.map((e) => (e ? e.start + e.size : undefined));
  const allKnown = ends.every((e) => e !== undefined);
  const lastEnd = Math.max(firstUsable, ...ends.filter((e): e is number => e !== undefined));
  const diskSize = input.diskSize ?? (allKnown ? alignUp(lastEnd + (gpt ? GPT_BACKUP : 0), input.align) : undefined);
  if (input.diskSize !== undefined) {
    const usableEnd = input.diskSize - (gpt ? GPT_BACKUP : 0);
    for (const [i, e] of placed.entries()) {
      if (e === undefined || e.start + e.size <= usableEnd) continue;
      const p = input.partitions[i]!;
      problems.push({
        at: p.sizeAt,
        message: `partition "${p.name}" ends at ${showOffset(e.start + e.size)}, past the end of the ${showOffset(input.diskSize)} disk${gpt ? ' less its backup GPT' : ''}; make the disk or the partition fit`,
      });
    }
  }
  if (!gpt && diskSize !== undefined && diskSize > MBR_MAX_BYTES) {
    problems.push({ at: input.partitions[0]!.at, message: `an MBR table addresses at most 2 TiB; use table: gpt` });
  }

  const regions: { start: number; end: number; what: string }[] = [{ start: 0, end: firstUsable, what: gpt ? 'the primary GPT' : 'the MBR' }];
  if (gpt && diskSize !== undefined) regions.push({ start: diskSize - GPT_BACKUP, end: diskSize, what: 'the backup GPT' });
  for (const r of input.raw) {
    const end = r.offset + Math.max(1, r.length ?? 1);
    for (const region of regions) {
      if (r.offset < region.end && region.start < end) {
        const hint = region.start === 0 && gpt ? `; start it at ${showOffset(GPT_PRIMARY)} or later, or use table: mbr (boards that load a bootloader at 8 KiB need one)` : region.start === 0 ? '; start it at 512 bytes or later' : '; make the disk larger';
        problems.push({ at: r.at, message: `raw write at ${showOffset(r.offset)}${r.length !== undefined ? ` (${r.length} bytes)` : ''} overlaps ${region.what} (${showOffset(region.start)} to ${showOffset(region.end)})${hint}` });
      }
    }
    for (const [i, e] of placed.entries()) {
      if (e === undefined || !(r.offset < e.start + e.size && e.start < end)) continue;
      problems.push({ at: r.at, message: `raw write at ${showOffset(r.offset)}${r.length !== undefined ? ` (${r.length} bytes)` : ''} overlaps partition "${input.partitions[i]!.name}" (${showOffset(e.start)} to ${showOffset(e.start + e.size)}); move it or the partition` });
    }
    if (diskSize !== undefined && end > diskSize) problems.push({ at: r.at, message: `raw write at ${showOffset(r.offset)} ends past the end of the ${showOffset(diskSize)} disk` });
  }
  return { partitions: placed, ...(diskSize === undefined ? {} : { diskSize }), problems };
}
