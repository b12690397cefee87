/**
 * The configuration file as written on disk (the keys of eib.yaml), after
 * schema validation and before normalization. schemas/eib.schema.json is the
 * format's source of truth; the key tables below mirror it and a test
 * compares them with the schema, so a key added on one side only fails the
 * typecheck (here) or the test (there).
 */
import type { AlpineArch } from './types.js';

export interface EibFile {
  name: string;
  arch: AlpineArch | AlpineArch[];
  alpine: AlpineSection;
  stages: StageEntry[];
  outputs?: OutputsSection;
  cache?: CacheSection;
  registry?: RegistrySection;
  boot?: BootSection;
  epoch?: number;
}

export interface AlpineSection {
  release?: string;
  mirror?: string;
  repositories?: string[];
  keys?: string[];
  'allow-untrusted'?: boolean;
  'scripts-fatal'?: boolean;
  'image-repositories'?: string[];
}

/** A list is script files; a string is a script file or inline shell. */
export type ScriptEntry = string | string[];

export interface StageEntry {
  name: string;
  packages?: string[];
  files?: FileEntry[];
  'host-run'?: ScriptEntry;
  run?: ScriptEntry;
  remove?: string[];
  env?: Record<string, string>;
  network?: boolean;
}

export interface FileEntry {
  src: string;
  dest: string;
  owner?: string;
  mode?: string;
}

export interface OutputsSection {
  oci?: string;
  tag?: string;
  rootfs?: string;
  ext4?: string;
  squashfs?: string;
  erofs?: string;
  'max-size'?: number | string;
  initramfs?: string;
  disk?: DiskSection;
}

export interface BootSection {
  kernel?: string;
  append?: string;
  memory?: number;
  timeout?: number;
  test?: ScriptEntry;
  network?: boolean;
}

export interface DiskSection {
  path: string;
  table: 'gpt' | 'mbr';
  size?: string;
  align?: string;
  bmap?: boolean;
  compress?: ('gz' | 'zst')[];
  partitions: PartitionEntry[];
  raw?: RawWriteEntry[];
}

export interface PartitionEntry {
  name: string;
  type: 'vfat' | 'ext4' | 'squashfs' | 'erofs' | 'raw';
  size?: string;
  headroom?: string;
  start?: string;
  content?: string;
  files?: string[];
  src?: string;
  image?: string;
  label?: string;
  bootable?: boolean;
  'gpt-type'?: string;
  'mbr-type'?: string;
  uuid?: string;
}

export interface RawWriteEntry {
  offset: string;
  src?: string;
  image?: string;
}

export interface CacheSection {
  dir?: string;
  registry?: string;
}

export interface RegistrySection {
  ref: string;
  insecure?: boolean;
  ca?: string;
}

/** For each key of T: whether the file must contain it. */
export type KeyTable<T> = { readonly [K in keyof T]-?: object extends Pick<T, K> ? 'optional' : 'required' };

/**
 * Every mapping of the file format with fixed keys, by its location in the
 * file ("" is the top level, "[]" a list's items). `satisfies` makes a key
 * missing here, extra here, or of the wrong requiredness a type error.
 */
export const FILE_KEYS = {
  '': {
    name: 'required',
    arch: 'required',
    alpine: 'required',
    stages: 'required',
    outputs: 'optional',
    cache: 'optional',
    registry: 'optional',
    boot: 'optional',
    epoch: 'optional',
  } satisfies KeyTable<EibFile>,
  alpine: {
    release: 'optional',
    mirror: 'optional',
    repositories: 'optional',
    keys: 'optional',
    'allow-untrusted': 'optional',
    'scripts-fatal': 'optional',
    'image-repositories': 'optional',
  } satisfies KeyTable<AlpineSection>,
  'stages[]': {
    name: 'required',
    packages: 'optional',
    files: 'optional',
    'host-run': 'optional',
    run: 'optional',
    remove: 'optional',
    env: 'optional',
    network: 'optional',
  } satisfies KeyTable<StageEntry>,
  'stages[].files[]': {
    src: 'required',
    dest: 'required',
    owner: 'optional',
    mode: 'optional',
  } satisfies KeyTable<FileEntry>,
  outputs: {
    oci: 'optional',
    tag: 'optional',
    rootfs: 'optional',
    ext4: 'optional',
    squashfs: 'optional',
    erofs: 'optional',
    'max-size': 'optional',
    initramfs: 'optional',
    disk: 'optional',
  } satisfies KeyTable<OutputsSection>,
  'outputs.disk': {
    path: 'required',
    table: 'required',
    size: 'optional',
    align: 'optional',
    bmap: 'optional',
    compress: 'optional',
    partitions: 'required',
    raw: 'optional',
  } satisfies KeyTable<DiskSection>,
  'outputs.disk.partitions[]': {
    name: 'required',
    type: 'required',
    size: 'optional',
    headroom: 'optional',
    start: 'optional',
    content: 'optional',
    files: 'optional',
    src: 'optional',
    image: 'optional',
    label: 'optional',
    bootable: 'optional',
    'gpt-type': 'optional',
    'mbr-type': 'optional',
    uuid: 'optional',
  } satisfies KeyTable<PartitionEntry>,
  'outputs.disk.raw[]': {
    offset: 'required',
    src: 'optional',
    image: 'optional',
  } satisfies KeyTable<RawWriteEntry>,
  cache: {
    dir: 'optional',
    registry: 'optional',
  } satisfies KeyTable<CacheSection>,
  registry: {
    ref: 'required',
    insecure: 'optional',
    ca: 'optional',
  } satisfies KeyTable<RegistrySection>,
  boot: {
    kernel: 'optional',
    append: 'optional',
    memory: 'optional',
    timeout: 'optional',
    test: 'optional',
    network: 'optional',
  } satisfies KeyTable<BootSection>,
} as const;

/** The steps a stage can have; a stage needs at least one. */
export const STAGE_STEPS = ['packages', 'files', 'host-run', 'run', 'remove'] as const satisfies readonly (keyof StageEntry)[];
