/**
 * Builds signed apk v2 packages and a signed APKINDEX.tar.gz in code, the
 * way abuild lays them out: three gzip members (signature tar, control tar,
 * data tar), each control/signature tar cut before its end blocks, every
 * data file carrying an `APK-TOOLS.checksum.SHA1` PAX record, `.PKGINFO`
 * carrying the sha256 `datahash` of the data member, and the signature an
 * RSA PKCS#1 v1.5 signature over the raw control member.
 *
 * It also builds hostile packages on request (see `BuildFile` and
 * `Hostile`): paths with `..`, absolute paths, links out of the root,
 * device nodes, lying sizes, truncated files, decompression bombs, wrong
 * hashes. Everything is written by this file's own tar encoder, so the
 * bytes are exactly what a test asks for.
 *
 * Usage:
 *   const key = generateSigningKey();                  // or loadSigningKey(path)
 *   const info = await buildApk(dir, { name: 'hello', version: '1.0-r0', files: [...] }, key);
 *   await writeApkIndex(join(dir, 'APKINDEX.tar.gz'), [info], key);
 */
import { createHash, createPrivateKey, createPublicKey, createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { PackageInfo } from '../../src/apk/types.js';

export interface SigningKey {
  /** Key file name as apk names it in .SIGN.RSA.<name> and etc/apk/keys/<name>. */
  name: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A fresh 2048-bit RSA key; `name` should end in .rsa.pub like Alpine's. */
export function generateSigningKey(name = 'eib-test-generated.rsa.pub'): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { name, privateKey, publicKey };
}

/** Loads a PEM private key (e.g. shared/alpine/keys/eib-test-0001.rsa); the name is `<file>.pub`. */
export function loadSigningKey(privateKeyPath: string, name = `${basename(privateKeyPath)}.pub`): SigningKey {
  const privateKey = createPrivateKey(readFileSync(privateKeyPath));
  return { name, privateKey, publicKey: createPublicKey(privateKey) };
}

/** The trusted-keys map installPackages and the index reader take. */
export function trustedKeys(...keys: SigningKey[]): Map<string, KeyObject> {
  return new Map(keys.map((k) => [k.name, k.publicKey]));
}

export type BuildEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char-device' | 'block-device' | 'fifo';

export interface BuildFile {
  /** Written verbatim into the tar header (so "../x" or "/etc/x" stay hostile). */
  path: string;
  /** Default: 'directory' when path ends in "/", else 'file'. */
  type?: BuildEntryType;
  content?: string | Buffer;
  /** Stream this many zero bytes as content instead (decompression bombs, big files). */
  zeros?: number;
  /** Default 0o755 for directories, 0o777 for symlinks, 0o644 otherwise. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; default 1700000000. */
  mtime?: number;
  /** Symlink target, or the hardlinked path as written in the tar. */
  linkTarget?: string;
  xattrs?: Record<string, string | Buffer>;
  /** Override the SHA-1 PAX record (hex); null omits it. */
  checksum?: string | null;
  /** Header size field that differs from the content length (a lying size). */
  declaredSize?: number;
  devmajor?: number;
  devminor?: number;
}

export interface Hostile {
  /** .PKGINFO datahash to write instead of the real one. */
  datahash?: string;
  /** Cut this many bytes off the end of the finished .apk. */
  truncate?: number;
  /** Leave the signature member out (the package then starts with its control member). */
  unsigned?: boolean;
  /** Sign with this key instead (e.g. an untrusted one). */
  signWith?: SigningKey;
}

export interface BuildPackage {
  name: string;
  version: string;
  arch?: string;
  description?: string;
  url?: string;
  license?: string;
  origin?: string;
  maintainer?: string;
  buildTime?: number;
  commit?: string;
  depends?: string[];
  provides?: string[];
  installIf?: string[];
  replaces?: string[];
  replacesPriority?: number;
  providerPriority?: number;
  triggers?: string[];
  /** Install scripts by name ("post-install": "#!/bin/sh\n…"). */
  scripts?: Partial<Record<'pre-install' | 'post-install' | 'pre-upgrade' | 'post-upgrade' | 'pre-deinstall' | 'post-deinstall' | 'trigger', string>>;
  files: BuildFile[];
  /** I: and .PKGINFO size; default: the sum of file sizes rounded to 4 KiB. */
  installedSize?: number;
  hostile?: Hostile;
  /** File name of the .apk; default <name>-<version>.apk. */
  fileName?: string;
}

const DEFAULT_MTIME = 1_700_000_000;
const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

const TYPEFLAG: Record<BuildEntryType | 'pax', string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  'char-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
  pax: 'x',
};

interface RawHeader {
  name: string;
  type: BuildEntryType | 'pax';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

/** One ustar header block; names up to 100 bytes (prefix field for longer ones up to 255). */
export function tarHeader(h: RawHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  let name = h.name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', name.length - 1);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100 || cut > 155) throw new Error(`tar name too long: ${name}`);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  block.write(name, 0, 100);
  block.write(octal(h.mode & 0o7777, 8), 100);
  block.write(octal(h.uid, 8), 108);
  block.write(octal(h.gid, 8), 116);
  block.write(octal(h.size, 12), 124);
  block.write(octal(h.mtime, 12), 136);
  block.write('        ', 148);
  block.write(TYPEFLAG[h.type], 156);
  if (h.linkname) block.write(h.linkname, 157, 100);
  block.write('ustar\0', 257);
  block.write('00', 263);
  block.write('root', 265, 32);
  block.write('root', 297, 32);
  block.write(octal(h.devmajor ?? 0, 8), 329);
  block.write(octal(h.devminor ?? 0, 8), 337);
  block.write(prefix, 345, 155);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(octal(sum, 7) + ' ', 148);
  return block;
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** A PAX extended header entry (header block + records + padding). */
function paxEntry(name: string, records: [string, Buffer][]): Buffer[] {
  const parts = records.map(([key, value]) => {
    const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    return Buffer.concat([Buffer.from(String(length)), body]);
  });
  const data = Buffer.concat(parts);
  return [tarHeader({ name: `PaxHeader/${name}`.slice(0, 100), type: 'pax', mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0 }), data, padding(data.length)];
}

function entryType(file: BuildFile): BuildEntryType {
  return file.type ?? (file.path.endsWith('/') ? 'directory' : 'file');
}

function contentOf(file: BuildFile): Buffer {
  if (file.content === undefined) return Buffer.alloc(0);
  return typeof file.content === 'string' ? Buffer.from(file.content) : file.content;
}

function zeroChunks(total: number): Iterable<Buffer> {
  const chunk = Buffer.alloc(1024 * 1024);
  return {
    *[Symbol.iterator]() {
      for (let left = total; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left);
    },
  };
}

/** The data tar as a sequence of chunks (lazily, so a bomb never sits in memory). */
function* dataTar(files: readonly BuildFile[]): Generator<Buffer> {
  for (const file of files) {
    const type = entryType(file);
    const name = type === 'directory' ? file.path.replace(/\/?$/, '/').replace(/\/$/, '') : file.path;
    const size = type === 'file' ? (file.zeros ?? contentOf(file).length) : 0;
    const records: [string, Buffer][] = [];
    let sha1: string | undefined;
    if (type === 'file') {
      const hash = createHash('sha1');
      if (file.zeros !== undefined) for (const c of zeroChunks(file.zeros)) hash.update(c);
      else hash.update(contentOf(file));
      sha1 = hash.digest('hex');
    } else if (type === 'symlink' || type === 'hardlink') {
      sha1 = createHash('sha1').update(file.linkTarget ?? '').digest('hex');
    }
    if (file.checksum !== undefined) sha1 = file.checksum ?? undefined;
    if (sha1 !== undefined && type !== 'directory') records.push(['APK-TOOLS.checksum.SHA1', Buffer.from(sha1)]);
    for (const [key, value] of Object.entries(file.xattrs ?? {})) {
      records.push([`SCHILY.xattr.${key}`, typeof value === 'string' ? Buffer.from(value) : value]);
    }
    if (records.length > 0) yield* paxEntry(name, records);
    const defaultMode = type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644;
    yield tarHeader({
      name,
      type,
      mode: file.mode ?? defaultMode,
      uid: file.uid ?? 0,
      gid: file.gid ?? 0,
      size: file.declaredSize ?? size,
      mtime: file.mtime ?? DEFAULT_MTIME,
      ...(file.linkTarget === undefined ? {} : { linkname: file.linkTarget }),
      ...(file.devmajor === undefined ? {} : { devmajor: file.devmajor }),
      ...(file.devminor === undefined ? {} : { devminor: file.devminor }),
    });
    if (type === 'file') {
      if (file.zeros !== undefined) yield* zeroChunks(file.zeros);
      else yield contentOf(file);
      yield padding(size);
    }
  }
  yield Buffer.alloc(BLOCK * 2);
}

/** gzip a chunk sequence as one member, streaming. */
async function gzipMember(chunks: Iterable<Buffer>): Promise<Buffer> {
  const gzip = zlib.createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  Readable.from(chunks).pipe(gzip);
  await done;
  return Buffer.concat(out);
}

/** A tar of small in-memory files; `cut` drops the end blocks as abuild does for control and signature. */
function smallTar(entries: { name: string; data: Buffer; mode?: number; mtime?: number }[], cut: boolean): Buffer[] {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(tarHeader({ name: e.name, type: 'file', mode: e.mode ?? 0o644, uid: 0, gid: 0, size: e.data.length, mtime: e.mtime ?? 0 }), e.data, padding(e.data.length));
  }
  if (!cut) parts.push(Buffer.alloc(BLOCK * 2));
  return parts;
}

function sign(key: SigningKey, data: Buffer): Buffer {
  return createSign('sha1').update(data).sign(key.privateKey);
}

async function signatureMember(key: SigningKey, signed: Buffer): Promise<Buffer> {
  return gzipMember(smallTar([{ name: `.SIGN.RSA.${key.name}`, data: sign(key, signed) }], true));
}

function defaultInstalledSize(files: readonly BuildFile[]): number {
  let total = 0;
  for (const f of files) {
    const size = entryType(f) === 'file' ? (f.zeros ?? contentOf(f).length) : 0;
    total += Math.ceil(size / 4096) * 4096;
  }
  return Math.max(total, 4096);
}

/**
 * Writes `<dir>/<name>-<version>.apk` and returns its index entry (C:, S:
 * and the rest filled in; `repository` is `dir`).
 */
export async function buildApk(dir: string, pkg: BuildPackage, key: SigningKey | undefined): Promise<PackageInfo> {
  const arch = pkg.arch ?? 'aarch64';
  const installedSize = pkg.installedSize ?? defaultInstalledSize(pkg.files);
  const data = await gzipMember(dataTar(pkg.files));
  const datahash = pkg.hostile?.datahash ?? createHash('sha256').update(data).digest('hex');
  const buildTime = pkg.buildTime ?? DEFAULT_MTIME;

  const info: string[] = [
    '# Generated by eib test apk-builder',
    `pkgname = ${pkg.name}`,
    `pkgver = ${pkg.version}`,
    `pkgdesc = ${pkg.description ?? `${pkg.name} test package`}`,
    `url = ${pkg.url ?? 'https://example.invalid/'}`,
    `builddate = ${buildTime}`,
    `packager = eib tests`,
    `size = ${installedSize}`,
    `arch = ${arch}`,
    `origin = ${pkg.origin ?? pkg.name}`,
  ];
  if (pkg.commit) info.push(`commit = ${pkg.commit}`);
  if (pkg.maintainer) info.push(`maintainer = ${pkg.maintainer}`);
  info.push(`license = ${pkg.license ?? 'MIT'}`);
  if (pkg.replacesPriority !== undefined) info.push(`replaces_priority = ${pkg.replacesPriority}`);
  if (pkg.providerPriority !== undefined) info.push(`provider_priority = ${pkg.providerPriority}`);
  for (const r of pkg.replaces ?? []) info.push(`replaces = ${r}`);
  for (const d of pkg.depends ?? []) info.push(`depend = ${d}`);
  for (const p of pkg.provides ?? []) info.push(`provides = ${p}`);
  for (const i of pkg.installIf ?? []) info.push(`install_if = ${i}`);
  if (pkg.triggers?.length) info.push(`triggers = ${pkg.triggers.join(' ')}`);
  info.push(`datahash = ${datahash}`);

  const controlEntries = [{ name: '.PKGINFO', data: Buffer.from(info.join('\n') + '\n'), mtime: buildTime }];
  for (const [script, body] of Object.entries(pkg.scripts ?? {})) {
    controlEntries.push({ name: `.${script}`, data: Buffer.from(body), mode: 0o755, mtime: buildTime } as (typeof controlEntries)[number]);
  }
  const control = await gzipMember(smallTar(controlEntries, true));
  const signer = pkg.hostile?.signWith ?? key;
  const members = [control, data];
  if (signer && !pkg.hostile?.unsigned) members.unshift(await signatureMember(signer, control));
  let apk = Buffer.concat(members);
  if (pkg.hostile?.truncate) apk = apk.subarray(0, apk.length - pkg.hostile.truncate);

  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, pkg.fileName ?? `${pkg.name}-${pkg.version}.apk`), apk);
  const entry: PackageInfo = {
    name: pkg.name,
    version: pkg.version,
    arch,
    size: apk.length,
    installedSize,
    description: pkg.description ?? `${pkg.name} test package`,
    url: pkg.url ?? 'https://example.invalid/',
    license: pkg.license ?? 'MIT',
    origin: pkg.origin ?? pkg.name,
    buildTime,
    depends: pkg.depends ?? [],
    provides: pkg.provides ?? [],
    installIf: pkg.installIf ?? [],
    replaces: pkg.replaces ?? [],
    checksum: `Q1${createHash('sha1').update(control).digest('base64')}`,
    repository: dir,
  };
  if (pkg.maintainer) entry.maintainer = pkg.maintainer;
  if (pkg.commit) entry.commit = pkg.commit;
  if (pkg.providerPriority !== undefined) entry.providerPriority = pkg.providerPriority;
  return entry;
}

/** One APKINDEX block, in the field order apk index writes. */
export function formatIndexEntry(p: PackageInfo): string {
  const lines = [`C:${p.checksum}`, `P:${p.name}`, `V:${p.version}`, `A:${p.arch}`, `S:${p.size}`, `I:${p.installedSize}`, `T:${p.description}`, `U:${p.url}`, `L:${p.license}`];
  if (p.origin) lines.push(`o:${p.origin}`);
  if (p.maintainer) lines.push(`m:${p.maintainer}`);
  if (p.buildTime !== undefined) lines.push(`t:${p.buildTime}`);
  if (p.commit) lines.push(`c:${p.commit}`);
  if (p.providerPriority !== undefined) lines.push(`k:${p.providerPriority}`);
  if (p.depends.length) lines.push(`D:${p.depends.join(' ')}`);
  if (p.provides.length) lines.push(`p:${p.provides.join(' ')}`);
  if (p.installIf.length) lines.push(`i:${p.installIf.join(' ')}`);
  return lines.join('\n') + '\n\n';
}

/** Writes a signed APKINDEX.tar.gz (signature member + gzip(tar(DESCRIPTION, APKINDEX))). */
export async function writeApkIndex(path: string, entries: readonly PackageInfo[], key: SigningKey | undefined, description = 'eib test repository'): Promise<void> {
  const body = await gzipMember(
    smallTar(
      [
        { name: 'DESCRIPTION', data: Buffer.from(description) },
        { name: 'APKINDEX', data: Buffer.from(entries.map(formatIndexEntry).join('')) },
      ],
      false,
    ),
  );
  const members = key ? [await signatureMember(key, body), body] : [body];
  await writeFile(path, Buffer.concat(members));
}

/** Builds every package into `<dir>/<arch>/` with its APKINDEX.tar.gz; returns the index entries. */
export async function buildRepository(dir: string, arch: string, packages: readonly BuildPackage[], key: SigningKey): Promise<PackageInfo[]> {
  const archDir = join(dir, arch);
  const entries: PackageInfo[] = [];
  for (const pkg of packages) entries.push({ ...(await buildApk(archDir, { ...pkg, arch }, key)), repository: dir });
  await writeApkIndex(join(archDir, 'APKINDEX.tar.gz'), entries, key);
  return entries;
}
