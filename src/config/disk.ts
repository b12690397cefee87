/**
 * outputs.disk: the checks the schema cannot express (one content source
 * per partition kind, unique names, labels that fit, keys of the other
 * table kind, host files that exist, and the layout rules of
 * disk-layout.ts with the sizes known before the build), and its
 * normalized form, which keeps each entry's position in the file for the
 * layout errors found during the build (auto sizes).
 */
import { stat } from 'node:fs/promises';
import { displayPath } from './schema-problems.js';
import { alignUp, planLayout } from './disk-layout.js';
import type { DiskSection, PartitionEntry, RawWriteEntry } from './file-types.js';
import { expandPath, pathKind } from './paths.js';
import { bytesFromSize } from './bytes.js';
import { UsageError } from '../errors.js';
import type { ByteSource, ConfigLocation, DiskOutput, DiskPartition, RawWrite } from './types.js';
import type { DataPath, Problem } from './yaml-source.js';

export const DEFAULT_ALIGN = 2 ** 20;
export const DEFAULT_HEADROOM = '20%';
const VFAT_LABEL_MAX = 11;
const EXT4_LABEL_MAX = 16;
const AT: DataPath = ['outputs', 'disk'];

type Obj = Record<string, unknown>;

/** Bytes of a size the schema accepted, like 64M or 512B. */
function parseSize(size: string): number {
  const bytes = bytesFromSize(size);
  if (bytes === undefined) throw new UsageError(`invalid size "${size}": use a number with K, M, G or T (e.g. 8K, 64M, 2G)`);
  return bytes;
}

/** Like parseSize, and 0 (in any unit) is an offset too. */
function parseOffset(offset: string): number {
  return /^\s*0+(\.0+)?\s*([KMGTkmgt]?)(i?B)?\s*$/.test(offset) ? 0 : parseSize(offset);
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A size the schema accepted, or undefined (missing, auto, or already reported). */
function sizeOf(v: unknown, parse: (s: string) => number = parseSize): number | undefined {
  if (typeof v !== 'string' || v === 'auto') return undefined;
  try {
    return parse(v);
  } catch {
    return undefined;
  }
}

/** Bytes a partition sized auto takes for `bytes` of content: rounded up to the alignment, so the next partition needs no gap. */
export function autoSize(bytes: number, align: number): number {
  return alignUp(Math.max(bytes, 1), align);
}

export interface DiskPathContext {
  readonly dir: string;
  readonly home: string;
  readonly configName: string;
}

export async function diskProblems(disk: unknown, ctx: DiskPathContext): Promise<Problem[]> {
  if (!isObj(disk)) return [];
  const problems: Problem[] = [];
  const problem = (path: DataPath, message: string): void => void problems.push({ path, at: 'value', message: `${displayPath(path)}: ${message}` });
  const table = disk['table'];

  /** Size of a host file that must exist, or undefined (reported). */
  const hostFile = async (path: DataPath, value: string, want: 'file' | 'any'): Promise<number | undefined> => {
    const absolute = expandPath(value, ctx.dir, ctx.home, { keepTrailingSlash: true });
    const kind = await pathKind(absolute);
    if (kind === 'missing') problem(path, `${value} does not exist (${absolute}); expected a file relative to the folder of ${ctx.configName}`);
    else if (want === 'file' && kind !== 'file') problem(path, `${value} is not a file; expected a file whose bytes are written`);
    else if (value.endsWith('/') && kind !== 'directory') problem(path, `${value} is not a folder; a trailing / copies a folder's contents`);
    return kind === 'file' ? (await stat(absolute)).size : undefined;
  };

  /** One of src and image: the bytes' source. */
  const oneSource = (path: DataPath, entry: Obj, what: string): void => {
    const given = ['src', 'image'].filter((k) => entry[k] !== undefined);
    if (given.length === 0) problem(path, `${what} has neither src (a host file) nor image (a file of the image); expected one of them`);
    if (given.length === 2) problem([...path, 'image'], `${what} has both src and image; expected one of them`);
  };

  const align = sizeOf(disk['align']) ?? DEFAULT_ALIGN;
  if (align % 512 !== 0) problem([...AT, 'align'], `${align} bytes is not a whole number of 512-byte sectors; use K or M units`);

  const partitions = Array.isArray(disk['partitions']) ? (disk['partitions'] as unknown[]) : [];
  const names = new Map<string, number>();
  const contents = new Map<string, number>();
  const layoutPartitions: { name: string; size?: number; start?: number; at: DataPath; sizeAt: DataPath; startAt: DataPath }[] = [];
  let layoutUsable = true;
  for (const [i, p] of partitions.entries()) {
    const at: DataPath = [...AT, 'partitions', i];
    if (!isObj(p)) {
      layoutUsable = false;
      continue;
    }
    const name = str(p['name']) ?? `#${i + 1}`;
    const type = p['type'];
    if (typeof p['name'] === 'string') {
      const first = names.get(p['name']);
      if (first !== undefined) problem([...at, 'name'], `"${p['name']}" is already the name of partitions[${first}]; expected a unique name per partition`);
      else names.set(p['name'], i);
    }
    if (type === 'raw') {
      oneSource(at, p, `raw partition "${name}"`);
      for (const key of ['content', 'files', 'label'] as const) if (p[key] !== undefined) problem([...at, key], `a raw partition takes its bytes from src or image, not ${key}; remove ${key} or give the partition a filesystem type`);
    } else if (typeof type === 'string') {
      for (const key of ['src', 'image'] as const) if (p[key] !== undefined) problem([...at, key], `${key} is for raw partitions; a ${type} partition is filled from content (a folder of the image, or rootfs) and files`);
    }
    const content = str(p['content']);
    if (content !== undefined) {
      const normalized = content === 'rootfs' ? content : content.replace(/\/+$/, '') || '/';
      if (normalized === '/') problem([...at, 'content'], 'the whole image is rootfs; write content: rootfs');
      const first = contents.get(normalized);
      if (first !== undefined) problem([...at, 'content'], `${content} already goes into partitions[${first}]; expected each part of the image in one partition`);
      else contents.set(normalized, i);
    }
    const label = str(p['label']);
    if (label !== undefined) {
      if (type === 'vfat' && (label.length > VFAT_LABEL_MAX || !/^[\x20-\x7e]+$/.test(label))) problem([...at, 'label'], `"${label}" does not fit a vfat label; expected up to ${VFAT_LABEL_MAX} ASCII characters`);
      if (type === 'ext4' && Buffer.byteLength(label) > EXT4_LABEL_MAX) problem([...at, 'label'], `"${label}" is longer than the ${EXT4_LABEL_MAX} bytes an ext4 label holds`);
      if (type === 'squashfs' || type === 'erofs') problem([...at, 'label'], `${type} images made by eib carry no label; remove it (find the partition by its PARTUUID or name)`);
    }
    if (table === 'mbr') {
      for (const key of ['gpt-type', 'uuid'] as const) if (p[key] !== undefined) problem([...at, key], `${key} is for GPT tables, and this disk's table is mbr; use mbr-type, or table: gpt`);
    } else if (table === 'gpt' && p['mbr-type'] !== undefined) {
      problem([...at, 'mbr-type'], 'mbr-type is for MBR tables, and this disk\'s table is gpt; use gpt-type, or table: mbr');
    }
    if (Array.isArray(p['files'])) {
      for (const [j, f] of (p['files'] as unknown[]).entries()) if (str(f) !== undefined) await hostFile([...at, 'files', j], f as string, 'any');
    }
    let size = p['size'] === undefined || p['size'] === 'auto' ? undefined : sizeOf(p['size']);
    const src = str(p['src']);
    if (type === 'raw' && src !== undefined) {
      const bytes = await hostFile([...at, 'src'], src, 'file');
      if (bytes !== undefined && size !== undefined && bytes > size) problem([...at, 'size'], `${src} (${bytes} bytes) does not fit in the partition (${size} bytes); make size bigger or auto`);
      if (bytes !== undefined && size === undefined && (p['size'] === undefined || p['size'] === 'auto')) size = autoSize(bytes, align);
    }
    if (p['size'] !== undefined && p['size'] !== 'auto' && size === undefined) layoutUsable = false;
    const start = p['start'] === undefined ? undefined : sizeOf(p['start'], parseOffset);
    if (p['start'] !== undefined && start === undefined) layoutUsable = false;
    layoutPartitions.push({
      name,
      ...(size === undefined ? {} : { size }),
      ...(start === undefined ? {} : { start }),
      at,
      sizeAt: p['size'] === undefined ? at : [...at, 'size'],
      startAt: p['start'] === undefined ? at : [...at, 'start'],
    });
  }
  const raws = Array.isArray(disk['raw']) ? (disk['raw'] as unknown[]) : [];
  const layoutRaw: { offset: number; length?: number; at: DataPath }[] = [];
  for (const [i, r] of raws.entries()) {
    const at: DataPath = [...AT, 'raw', i];
    if (!isObj(r)) continue;
    oneSource(at, r, `raw[${i}]`);
    const src = str(r['src']);
    const length = src === undefined ? undefined : await hostFile([...at, 'src'], src, 'file');
    const offset = sizeOf(r['offset'], parseOffset);
    if (offset !== undefined) layoutRaw.push({ offset, ...(length === undefined ? {} : { length }), at: r['offset'] === undefined ? at : [...at, 'offset'] });
  }

  const diskSize = disk['size'] === undefined ? undefined : sizeOf(disk['size']);
  if ((table === 'gpt' || table === 'mbr') && layoutUsable && (disk['size'] === undefined || diskSize !== undefined)) {
    const layout = planLayout({ table, align, ...(diskSize === undefined ? {} : { diskSize }), partitions: layoutPartitions, raw: layoutRaw });
    for (const p of layout.problems) problems.push({ path: p.at, at: 'value', message: `${displayPath(p.at)}: ${p.message}` });
  }
  return problems;
}

/** The validated outputs.disk as the disk export uses it: sizes in bytes, paths absolute, positions kept. */
export function normalizeDisk(d: DiskSection, abs: (p: string, keepTrailingSlash?: boolean) => string, locate: (path: DataPath) => ConfigLocation): DiskOutput {
  const source = (entry: { src?: string; image?: string }): ByteSource | undefined =>
    entry.src !== undefined ? { host: abs(entry.src) } : entry.image !== undefined ? { image: entry.image } : undefined;
  const partitions = d.partitions.map((p: PartitionEntry, i): DiskPartition => {
    const at: DataPath = [...AT, 'partitions', i];
    const headroom = p.headroom ?? DEFAULT_HEADROOM;
    const src = source(p);
    return {
      name: p.name,
      type: p.type,
      size: p.size === undefined || p.size === 'auto' ? 'auto' : parseSize(p.size),
      headroom: headroom.endsWith('%') ? { fraction: Number(headroom.slice(0, -1)) / 100 } : { bytes: parseSize(headroom) },
      ...(p.start === undefined ? {} : { start: parseOffset(p.start) }),
      ...(p.content === undefined ? {} : { content: p.content === 'rootfs' ? 'rootfs' : p.content.replace(/\/+$/, '') }),
      files: (p.files ?? []).map((f) => abs(f, true)),
      ...(src === undefined ? {} : { source: src }),
      ...(p.label === undefined ? {} : { label: p.label }),
      bootable: p.bootable ?? false,
      ...(p['gpt-type'] === undefined ? {} : { gptType: p['gpt-type'].toUpperCase() }),
      ...(p['mbr-type'] === undefined ? {} : { mbrType: p['mbr-type'].replace(/^0x/i, '').toLowerCase().padStart(2, '0') }),
      ...(p.uuid === undefined ? {} : { uuid: p.uuid.toUpperCase() }),
      at: locate(at),
      sizeAt: locate(p.size === undefined ? at : [...at, 'size']),
      startAt: locate(p.start === undefined ? at : [...at, 'start']),
    };
  });
  const raw = (d.raw ?? []).map((r: RawWriteEntry, i): RawWrite => ({ offset: parseOffset(r.offset), source: source(r)!, at: locate([...AT, 'raw', i, 'offset']) }));
  return {
    path: abs(d.path),
    table: d.table,
    ...(d.size === undefined ? {} : { size: parseSize(d.size) }),
    align: d.align === undefined ? DEFAULT_ALIGN : parseSize(d.align),
    bmap: d.bmap ?? true,
    compress: d.compress ?? [],
    partitions,
    raw,
    at: locate(AT),
  };
}
