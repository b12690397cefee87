/**
 * The installed-package database in apk-tools 2.14's on-disk format, so the
 * real apk can read, audit and change a root eib built:
 *   lib/apk/db/installed    one block per package: index fields, then per
 *                           directory F: (+ M: when not 0:0:755) and per file
 *                           R:, a: (when not 0:0:644), Z: (Q1 + base64 sha1)
 *   lib/apk/db/scripts.tar  <name>-<version>.<C:>.<script>
 *   lib/apk/db/triggers     "<C:> <glob> <glob>…" per package with triggers
 *   lib/apk/db/lock, etc/apk/{world,arch,repositories,keys/}, and the
 *   directories `apk --initdb` creates.
 * Every file is written to a temporary name and renamed into place.
 * Reference: apk-tools src/database.c (apk_db_fdb_write, apk_db_write_config)
 * and src/package.c (apk_pkg_write_index_header).
 */
import type { KeyObject } from 'node:crypto';
import { chmod, chown, mkdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import tar from 'tar-stream';
import type { PackageInfo } from './types.js';
import type { ScriptName } from './package-file.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { SCRIPT_EXEC_DIR } from './scripts.js';
import { readIfExists } from '../fs/stat.js';

export interface Acl {
  uid: number;
  gid: number;
  /** Permission bits, setuid/setgid/sticky included. */
  mode: number;
}

export interface InstalledFile {
  name: string;
  acl: Acl;
  /** "Q1…" checksum as apk writes it; undefined when the entry has none. */
  checksum?: string;
}

export interface InstalledDir {
  /** Relative to the root, no leading slash ("" is the root itself). */
  name: string;
  acl: Acl;
  files: InstalledFile[];
}

export interface InstalledPackage {
  name: string;
  version: string;
  /** C: */
  checksum: string;
  origin?: string;
  /** r: names and constraints, as written. */
  replaces: string[];
  /** q: */
  replacesPriority: number;
  /** Trigger globs (lib/apk/db/triggers). */
  triggers: string[];
  /** Index fields from C: through i:, exactly as they will be written. */
  indexLines: string[];
  /** Lines apk writes after r:/q: and before the files (s:, f:) — kept as read. */
  extraLines: string[];
  dirs: InstalledDir[];
  /** Scripts as stored in scripts.tar. */
  scripts: Map<ScriptName, Buffer>;
}

export const DEFAULT_DIR_ACL: Readonly<Acl> = { uid: 0, gid: 0, mode: 0o755 };
export const DEFAULT_FILE_ACL: Readonly<Acl> = { uid: 0, gid: 0, mode: 0o644 };

export const DB_PATHS = {
  installed: 'lib/apk/db/installed',
  scripts: 'lib/apk/db/scripts.tar',
  triggers: 'lib/apk/db/triggers',
  lock: 'lib/apk/db/lock',
  world: 'etc/apk/world',
  arch: 'etc/apk/arch',
  repositories: 'etc/apk/repositories',
  keys: 'etc/apk/keys',
} as const;

function sameAcl(a: Acl, b: Acl): boolean {
  return a.uid === b.uid && a.gid === b.gid && a.mode === b.mode;
}

function formatAcl(letter: 'a' | 'M', acl: Acl): string {
  return `${letter}:${acl.uid}:${acl.gid}:${(acl.mode & 0o7777).toString(8)}`;
}

function parseAcl(value: string): Acl {
  const [uid, gid, mode] = value.split(':');
  return { uid: Number(uid), gid: Number(gid), mode: parseInt(mode ?? '0', 8) };
}

/** The index lines apk_pkg_write_index_header writes for a package, in its order. */
export function indexLines(pkg: PackageInfo, checksum: string): string[] {
  const lines = [`C:${checksum}`, `P:${pkg.name}`, `V:${pkg.version}`];
  if (pkg.arch) lines.push(`A:${pkg.arch}`);
  lines.push(`S:${pkg.size}`, `I:${pkg.installedSize}`, `T:${pkg.description}`, `U:${pkg.url}`, `L:${pkg.license}`);
  if (pkg.origin) lines.push(`o:${pkg.origin}`);
  if (pkg.maintainer) lines.push(`m:${pkg.maintainer}`);
  if (pkg.buildTime !== undefined) lines.push(`t:${pkg.buildTime}`);
  if (pkg.commit) lines.push(`c:${pkg.commit}`);
  if (pkg.providerPriority) lines.push(`k:${pkg.providerPriority}`);
  if (pkg.depends.length > 0) lines.push(`D:${pkg.depends.join(' ')}`);
  if (pkg.provides.length > 0) lines.push(`p:${pkg.provides.join(' ')}`);
  if (pkg.installIf.length > 0) lines.push(`i:${pkg.installIf.join(' ')}`);
  return lines;
}

/** Parses lib/apk/db/installed. Scripts and triggers are filled in by `readDatabase`. */
export function parseInstalled(text: string): InstalledPackage[] {
  const packages: InstalledPackage[] = [];
  for (const block of text.split(/\n\n+/)) {
    const lines = block.split('\n').filter((l) => l.length >= 2 && l[1] === ':');
    if (lines.length === 0) continue;
    const pkg: InstalledPackage = {
      name: '',
      version: '',
      checksum: '',
      replaces: [],
      replacesPriority: 0,
      triggers: [],
      indexLines: [],
      extraLines: [],
      dirs: [],
      scripts: new Map(),
    };
    let dir: InstalledDir | undefined;
    let file: InstalledFile | undefined;
    for (const line of lines) {
      const key = line[0];
      const value = line.slice(2);
      switch (key) {
        case 'F':
          dir = { name: value, acl: { ...DEFAULT_DIR_ACL }, files: [] };
          file = undefined;
          pkg.dirs.push(dir);
          break;
        case 'M':
          if (dir) dir.acl = parseAcl(value);
          break;
        case 'R':
          file = { name: value, acl: { ...DEFAULT_FILE_ACL } };
          dir?.files.push(file);
          break;
        case 'a':
          if (file) file.acl = parseAcl(value);
          break;
        case 'Z':
          if (file) file.checksum = value;
          break;
        case 'r':
          pkg.replaces = value.split(' ').filter(Boolean);
          break;
        case 'q':
          pkg.replacesPriority = Number(value);
          break;
        case 's':
        case 'f':
          pkg.extraLines.push(line);
          break;
        default:
          if (dir) break; // unknown per-file keys are dropped, as apk does
          pkg.indexLines.push(line);
          if (key === 'C') pkg.checksum = value;
          if (key === 'P') pkg.name = value;
          if (key === 'V') pkg.version = value;
          if (key === 'o') pkg.origin = value;
      }
    }
    packages.push(pkg);
  }
  return packages;
}

/** apk writes the installed database sorted by package name (byte order). */
export function formatInstalled(packages: readonly InstalledPackage[]): string {
  const out: string[] = [];
  const sorted = [...packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const pkg of sorted) {
    out.push(...pkg.indexLines);
    if (pkg.replaces.length > 0) out.push(`r:${pkg.replaces.join(' ')}`);
    if (pkg.replacesPriority) out.push(`q:${pkg.replacesPriority}`);
    out.push(...pkg.extraLines);
    for (const dir of pkg.dirs) {
      out.push(`F:${dir.name}`);
      if (!sameAcl(dir.acl, DEFAULT_DIR_ACL)) out.push(formatAcl('M', dir.acl));
      for (const file of dir.files) {
        out.push(`R:${file.name}`);
        if (!sameAcl(file.acl, DEFAULT_FILE_ACL)) out.push(formatAcl('a', file.acl));
        if (file.checksum) out.push(`Z:${file.checksum}`);
      }
    }
    out.push('');
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

export function formatTriggers(packages: readonly InstalledPackage[]): string {
  return packages
    .filter((p) => p.triggers.length > 0)
    .map((p) => `${p.checksum} ${p.triggers.join(' ')}\n`)
    .join('');
}

export function parseTriggers(text: string): Map<string, string[]> {
  const byChecksum = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const [checksum, ...globs] = line.trim().split(/\s+/);
    if (checksum) byChecksum.set(checksum, globs);
  }
  return byChecksum;
}

export function scriptEntryName(pkg: Pick<InstalledPackage, 'name' | 'version' | 'checksum'>, script: ScriptName): string {
  return `${pkg.name}-${pkg.version}.${pkg.checksum}.${script}`;
}

/** Entries of scripts.tar by name. Scripts are small; they are held in memory. */
async function readScriptsTar(data: Buffer): Promise<Map<string, Buffer>> {
  const scripts = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        scripts.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(data);
  await done;
  return scripts;
}

export interface ApkDatabase {
  packages: InstalledPackage[];
  world: string[];
}

/** Reads the database a root already holds (empty when there is none). */
export async function readDatabase(root: string): Promise<ApkDatabase> {
  const installed = await readIfExists(join(root, DB_PATHS.installed));
  const packages = installed ? parseInstalled(installed.toString('utf8')) : [];
  const triggersText = await readIfExists(join(root, DB_PATHS.triggers));
  const triggers = parseTriggers(triggersText?.toString('utf8') ?? '');
  const scriptsData = await readIfExists(join(root, DB_PATHS.scripts));
  const scripts = scriptsData && scriptsData.length > 0 ? await readScriptsTar(scriptsData) : new Map<string, Buffer>();
  for (const pkg of packages) {
    pkg.triggers = triggers.get(pkg.checksum) ?? [];
    const prefix = `${pkg.name}-${pkg.version}.${pkg.checksum}.`;
    for (const [name, body] of scripts) {
      if (name.startsWith(prefix)) pkg.scripts.set(name.slice(prefix.length) as ScriptName, body);
    }
  }
  const worldText = await readIfExists(join(root, DB_PATHS.world));
  const world = (worldText?.toString('utf8') ?? '').split(/\s+/).filter(Boolean);
  return { packages, world };
}

export interface WriteDatabaseOptions {
  root: string;
  packages: readonly InstalledPackage[];
  world: readonly string[];
  arch: string;
  repositories: readonly string[];
  keys: ReadonlyMap<string, KeyObject>;
  /** mtime for every file and directory written, for reproducible layers. */
  epoch?: number;
}

async function ensureDir(root: string, path: string, mode: number): Promise<void> {
  let current = '';
  for (const part of path.split('/')) {
    current = current ? `${current}/${part}` : part;
    try {
      await mkdir(join(root, current));
      await chown(join(root, current), 0, 0).catch(() => undefined);
      await chmod(join(root, current), current === path ? mode : 0o755);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** Builds scripts.tar in memory (scripts are kilobytes) with apk's naming and modes. */
async function scriptsTar(packages: readonly InstalledPackage[], epoch: number | undefined): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const pkg of packages) {
    for (const [script, body] of pkg.scripts) {
      const mtime = new Date((epoch ?? buildTime(pkg) ?? 0) * 1000);
      pack.entry({ name: scriptEntryName(pkg, script), mode: 0o755, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime }, body);
    }
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function buildTime(pkg: InstalledPackage): number | undefined {
  const line = pkg.indexLines.find((l) => l.startsWith('t:'));
  return line ? Number(line.slice(2)) : undefined;
}

/**
 * Writes every database file apk keeps, creating the directories
 * `apk --initdb` creates. The world is written sorted and unique.
 */
export async function writeDatabase(options: WriteDatabaseOptions): Promise<void> {
  const { root, epoch } = options;
  // In the stage root: durable with the stage's layer (atomic-write.ts).
  const epochTime = epoch === undefined ? { inStageRoot: true } : { mtime: epoch, inStageRoot: true };
  for (const dir of ['etc/apk/keys', 'lib/apk/db', 'var/cache/apk', 'var/cache/misc']) await ensureDir(root, dir, 0o755);
  // apk-tools makes the scripts' directory private (apk_make_dirs(…, 0700, 0755)).
  await ensureDir(root, SCRIPT_EXEC_DIR, 0o700);
  for (const [name, key] of options.keys) {
    const pem = key.export({ type: 'spki', format: 'pem' });
    await writeFileAtomic(join(root, DB_PATHS.keys, name), pem, { mode: 0o644, ...epochTime });
  }
  await writeFileAtomic(join(root, DB_PATHS.scripts), await scriptsTar(options.packages, epoch), { mode: 0o644, ...epochTime });
  await writeFileAtomic(join(root, DB_PATHS.triggers), formatTriggers(options.packages), { mode: 0o644, ...epochTime });
  await writeFileAtomic(join(root, DB_PATHS.installed), formatInstalled(options.packages), { mode: 0o644, ...epochTime });
  const world = [...new Set(options.world)].sort();
  await writeFileAtomic(join(root, DB_PATHS.world), world.map((w) => `${w}\n`).join(''), { mode: 0o644, ...epochTime });
  await writeFileAtomic(join(root, DB_PATHS.arch), `${options.arch}\n`, { mode: 0o644, ...epochTime });
  await writeFileAtomic(join(root, DB_PATHS.repositories), options.repositories.map((r) => `${r}\n`).join(''), { mode: 0o644, ...epochTime });
  await writeFileAtomic(join(root, DB_PATHS.lock), '', { mode: 0o600, ...epochTime });
  if (epoch !== undefined) {
    for (const dir of ['etc/apk/keys', 'lib/apk/db', 'lib/apk/exec', 'var/cache/apk', 'var/cache/misc']) {
      await utimes(join(root, dir), epoch, epoch);
    }
  }
}
