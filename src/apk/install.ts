/**
 * Installs resolved packages into a root, the way `apk add` commits a
 * transaction: per package in order .pre-install, extraction,
 * .post-install; then the triggers of every installed package whose globs
 * match a directory the transaction changed; then the database.
 *
 * Each package is read once from its (local, cached) .apk. Every entry is
 * checked (its path against the root, file ownership, protected paths) and
 * written under a temporary name as it streams by; only when the whole
 * package verified — signature, C: checksum, datahash, every file's SHA-1 —
 * does the pre-install run and the temporary names get renamed into place.
 * Any refusal before that rolls back all the package wrote, so a hostile or
 * corrupt package leaves no trace.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import {
  DEFAULT_DIR_ACL,
  indexLines,
  readDatabase,
  writeDatabase,
  type Acl,
  type InstalledDir,
  type InstalledFile,
  type InstalledPackage,
} from './database.js';
import { applyXattrs, ExtractionJournal, ExtractionPlan } from './extract.js';
import { ApkPackageError, FileConflictError } from './package-error.js';
import { packageLabel, readApk, type ApkControl, type ApkDataEntry, type ScriptName } from './package-file.js';
import { runScript, type ScriptRunner } from './scripts.js';
import { checksumOnDisk, loadProtectedPaths } from './protected-paths.js';
import { matchTriggers } from './triggers.js';
import { recordedFiles, removePackageFiles } from './remove.js';
import { addToWorld } from './dependency.js';
import type { PackageInfo } from './types.js';

export type InstallProgressEvent =
  | { type: 'fetch'; package: string }
  | { type: 'install'; package: string; index: number; total: number }
  | { type: 'script'; package: string; script: ScriptName }
  | { type: 'trigger'; package: string; directories: string[] }
  | { type: 'skip'; package: string; reason: string }
  | { type: 'remove'; package: string }
  | { type: 'database' };

export interface InstallOptions {
  /** The root directory (inside the namespace, where uid 0 is mapped). */
  root: string;
  /**
   * Packages in install order (the solver's order). One whose name is
   * installed already at another version or build is upgraded (or
   * downgraded) in place: pre-upgrade, its files, post-upgrade, and the
   * files the old version had and the new one does not are removed.
   */
  packages: PackageInfo[];
  /** Names of installed packages to purge first, as apk does (pre-deinstall, files, post-deinstall). */
  remove?: readonly string[];
  /** The repository tag each package is pinned to, by name (apk records it as s: in the database). */
  tags?: Readonly<Record<string, string>>;
  /** Returns the path of the package's .apk on local disk (downloading it when needed). */
  openPackage: (pkg: PackageInfo) => Promise<string>;
  /** Trusted keys by file name ("alpine-devel@…rsa.pub"); copied to etc/apk/keys. */
  keys: Map<string, KeyObject>;
  /** Names added to etc/apk/world (merged with what the root already has). */
  world: string[];
  repositories: string[];
  arch: string;
  runScript: ScriptRunner;
  /** A failing script or trigger fails the install (ESCRIPT) instead of warning. */
  scriptsFatal?: boolean;
  /** Accept packages signed by no trusted key (still hash-checked against the index). */
  allowUntrusted?: boolean;
  /** mtime of the database files, for reproducible layers. */
  epoch?: number;
  onProgress?: (event: InstallProgressEvent) => void;
  /** How many .apk files to fetch ahead of the one being installed. */
  prefetch?: number;
}

export interface InstallResult {
  /** The packages this call installed (already-installed ones are skipped). */
  installed: PackageInfo[];
  warnings: string[];
}

type Replaces = 'yes' | 'no' | 'conflict';

/** apk's rule (apk_pkg_replaces_file) for a file `owner` has and `pkg` ships too. */
export function replacesFile(owner: InstalledPackage, pkg: InstalledPackage): Replaces {
  if (owner.name === pkg.name) return 'yes';
  if (owner.origin !== undefined && owner.origin === pkg.origin) return 'yes';
  const names = (list: readonly string[]): string[] => list.map((r) => /^[^<>=~!]+/.exec(r)?.[0] ?? r);
  const ownerPriority = names(owner.replaces).includes(pkg.name) ? owner.replacesPriority : -1;
  const newPriority = names(pkg.replaces).includes(owner.name) ? pkg.replacesPriority : -1;
  if (ownerPriority > newPriority) return 'no';
  if (newPriority >= 0) return 'yes';
  return 'conflict';
}

function dirOf(path: string): { dir: string; base: string } {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? { dir: '', base: path } : { dir: path.slice(0, slash), base: path.slice(slash + 1) };
}

/** Which installed package owns each file path, rebuilt from the database. */
class Ownership {
  private readonly owners = new Map<string, InstalledPackage>();

  constructor(packages: readonly InstalledPackage[]) {
    for (const pkg of packages) this.add(pkg);
  }

  add(pkg: InstalledPackage): void {
    for (const dir of pkg.dirs) for (const file of dir.files) this.owners.set(dir.name ? `${dir.name}/${file.name}` : file.name, pkg);
  }

  get(path: string): InstalledPackage | undefined {
    return this.owners.get(path);
  }

  /** Forgets `path` when `pkg` still owns it; whether it did. */
  release(path: string, pkg: InstalledPackage): boolean {
    if (this.owners.get(path) !== pkg) return false;
    this.owners.delete(path);
    return true;
  }

  /** Moves `path` from its current owner's file list to `pkg`. */
  take(path: string, pkg: InstalledPackage): void {
    const previous = this.owners.get(path);
    if (previous && previous !== pkg) {
      const { dir, base } = dirOf(path);
      const d = previous.dirs.find((x) => x.name === dir);
      if (d) d.files = d.files.filter((f) => f.name !== base);
    }
    this.owners.set(path, pkg);
  }
}

function recordedChecksum(owner: InstalledPackage, path: string): string | undefined {
  const { dir, base } = dirOf(path);
  return owner.dirs.find((d) => d.name === dir)?.files.find((f) => f.name === base)?.checksum;
}

function sha1Checksum(sha1: Buffer): string {
  return `Q1${sha1.toString('base64')}`;
}

async function* limitedPrefetch<T, R>(items: readonly T[], ahead: number, fn: (item: T) => Promise<R>): AsyncGenerator<[T, R]> {
  const started: Promise<R>[] = [];
  const start = (i: number): void => {
    const item = items[i];
    if (item !== undefined && started[i] === undefined) {
      started[i] = fn(item);
      started[i]?.catch(() => undefined);
    }
  };
  for (let i = 0; i < items.length; i++) {
    for (let j = i; j <= i + ahead; j++) start(j);
    yield [items[i] as T, await (started[i] as Promise<R>)];
  }
}

/** Builds the database record of a package from its control data and entries. */
function newRecord(pkg: PackageInfo, checksum: string, control: ApkControl): InstalledPackage {
  const priority = Number(control.pkginfo.get('replaces_priority')?.[0] ?? 0);
  const replaces = pkg.replaces.length > 0 ? pkg.replaces : (control.pkginfo.get('replaces') ?? []).flatMap((r) => r.split(/\s+/)).filter(Boolean);
  const record: InstalledPackage = {
    name: pkg.name,
    version: pkg.version,
    checksum,
    replaces,
    replacesPriority: Number.isFinite(priority) ? priority : 0,
    triggers: control.triggers,
    indexLines: indexLines(pkg, checksum),
    extraLines: [],
    dirs: [],
    scripts: new Map(control.scripts),
  };
  if (pkg.origin !== undefined) record.origin = pkg.origin;
  return record;
}

/** Finds or appends the record's directory entry, in first-seen order as apk lists them. */
function recordDir(record: InstalledPackage, index: Map<string, InstalledDir>, name: string, acl?: Acl): InstalledDir {
  let dir = index.get(name);
  if (!dir) {
    dir = { name, acl: { ...DEFAULT_DIR_ACL }, files: [] };
    index.set(name, dir);
    record.dirs.push(dir);
  }
  if (acl) dir.acl = acl;
  return dir;
}

export async function installPackages(options: InstallOptions): Promise<InstallResult> {
  const { root } = options;
  const warnings: string[] = [];
  const installed: PackageInfo[] = [];
  await mkdir(root, { recursive: true });
  const db = await readDatabase(root);
  const ownership = new Ownership(db.packages);
  const protectedPaths = await loadProtectedPaths(root);
  /** Rooted names of changed directories, in first-touched order. */
  const touched = new Set<string>();
  const progress = options.onProgress ?? (() => undefined);

  const scriptFailed = (record: InstalledPackage, error: string, output: string): void => {
    if (!record.extraLines.includes('f:s')) record.extraLines.push('f:s');
    if (options.scriptsFatal) {
      throw new ApkPackageError('ESCRIPT', packageLabel(record), `${error.slice(packageLabel(record).length + 1)}${output ? `\n${output.trimEnd()}` : ''}`);
    }
    warnings.push(`ERROR: ${error}`);
  };

  const run = async (record: InstalledPackage, script: ScriptName, args: string[]): Promise<void> => {
    const body = record.scripts.get(script);
    if (!body) return;
    progress(script === 'trigger' ? { type: 'trigger', package: packageLabel(record), directories: args } : { type: 'script', package: packageLabel(record), script });
    const outcome = await runScript({ root, pkg: record, script, body, args, runScript: options.runScript });
    if (!outcome.ok) scriptFailed(record, outcome.error ?? `${packageLabel(record)}.${script}: failed`, outcome.output);
  };

  /** Deletes the files `record` still owns among `files`, and its directories nothing else owns. */
  const dropFiles = async (record: InstalledPackage, files: Map<string, string | undefined>): Promise<void> => {
    for (const path of [...files.keys()]) if (!ownership.release(path, record)) files.delete(path);
    const ownedElsewhere = new Set(db.packages.filter((p) => p !== record).flatMap((p) => p.dirs.map((d) => d.name)));
    const result = await removePackageFiles({ root, protectedPaths, ownedElsewhere, files, dirs: record.dirs.map((d) => d.name) });
    for (const dir of result.touched) touched.add(dir);
    for (const path of result.kept) warnings.push(`${packageLabel(record)}: /${path} was changed in the root and is kept`);
  };

  let failed = false;
  try {
    for (const name of options.remove ?? []) {
      const record = db.packages.find((p) => p.name === name);
      if (!record) continue;
      progress({ type: 'remove', package: packageLabel(record) });
      await run(record, 'pre-deinstall', [record.version]);
      db.packages.splice(db.packages.indexOf(record), 1);
      await dropFiles(record, recordedFiles(record));
      await run(record, 'post-deinstall', [record.version]);
    }

    let index = 0;
    for await (const [pkg, path] of limitedPrefetch(options.packages, options.prefetch ?? 2, async (p) => {
      progress({ type: 'fetch', package: packageLabel(p) });
      return options.openPackage(p);
    })) {
      index++;
      const label = packageLabel(pkg);
      const existing = db.packages.find((p) => p.name === pkg.name);
      if (existing && existing.version === pkg.version && (pkg.checksum === '' || existing.checksum === pkg.checksum)) {
        progress({ type: 'skip', package: label, reason: 'already installed' });
        continue;
      }
      progress({ type: 'install', package: label, index, total: options.packages.length });
      const file = await open(path, 'r');
      try {
        const record = await installOne(file, pkg, existing);
        if (existing) {
          // apk drops the old record and appends the new one; what the old version
          // shipped and the new one does not (still listed under the old record) goes.
          db.packages.splice(db.packages.indexOf(existing), 1);
          await dropFiles(existing, recordedFiles(existing));
        }
        db.packages.push(record);
        ownership.add(record);
        installed.push(pkg);
        if (existing) await run(record, 'post-upgrade', [pkg.version, existing.version]);
        else await run(record, 'post-install', [pkg.version]);
      } finally {
        await file.close();
      }
    }

    for (const record of db.packages) {
      if (record.triggers.length === 0 || !record.scripts.has('trigger')) continue;
      const matched = matchTriggers(record.triggers, touched);
      if (matched.length > 0) await run(record, 'trigger', matched);
    }
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    // Record what did get installed, so the root stays consistent even after a failure;
    // a database error must not hide the failure that brought us here.
    progress({ type: 'database' });
    const written = writeDatabase({
      root,
      packages: db.packages,
      world: addToWorld(db.world, options.world),
      arch: options.arch,
      repositories: options.repositories,
      keys: options.keys,
      ...(options.epoch === undefined ? {} : { epoch: options.epoch }),
    });
    if (failed) await written.catch(() => undefined);
    else await written;
  }
  return { installed, warnings };

  async function installOne(file: FileHandle, pkg: PackageInfo, upgradeFrom?: InstalledPackage): Promise<InstalledPackage> {
    const label = packageLabel(pkg);
    const plan = new ExtractionPlan(root, label);
    const entries: ApkDataEntry[] = [];
    const skipped = new Set<string>();
    /** Protected files kept as the root has them; the package's version goes to <path>.apk-new. */
    const divertedTo = new Map<string, string>();
    let record: InstalledPackage | undefined;

    // One read: verify and stage each entry under a temporary name; commit only after
    // the whole package verified, roll back on any refusal.
    const journal = new ExtractionJournal(root, label);
    let checksum: string;
    try {
      const read = await readApk(file, {
        expected: pkg,
        keys: options.keys,
        ...(options.allowUntrusted === undefined ? {} : { allowUntrusted: options.allowUntrusted }),
        onControl: (control) => {
          record = newRecord(pkg, pkg.checksum || 'Q1', control);
          const tag = options.tags?.[pkg.name];
          if (tag) record.extraLines.push(`s:${tag}`);
        },
        onEntry: async (entry, content, verified) => {
          plan.check(entry);
          entries.push(entry);
          if (entry.type !== 'directory' && record) {
            const owner = ownership.get(entry.path);
            if (owner) {
              const decision = replacesFile(owner, record);
              if (decision === 'conflict') throw new FileConflictError(label, entry.path, [packageLabel(owner)]);
              if (decision === 'no') {
                skipped.add(entry.path);
                return;
              }
            }
            if (entry.type !== 'hardlink' && protectedPaths.isProtected(dirOf(entry.path).dir)) {
              const current = await checksumOnDisk(root, entry.path);
              const recorded = owner ? recordedChecksum(owner, entry.path) : undefined;
              const shipped = entry.type === 'symlink' ? sha1Checksum(createHash('sha1').update(entry.linkTarget ?? '').digest()) : entry.sha1 ? sha1Checksum(entry.sha1) : undefined;
              if (current !== undefined && current !== recorded && current !== shipped) {
                divertedTo.set(entry.path, `${entry.path}.apk-new`);
                warnings.push(`${label}: /${entry.path} was changed in the root; the package's version is installed as /${entry.path}.apk-new`);
              }
            }
          }
          const diverted = divertedTo.get(entry.path);
          const linkTarget = entry.type === 'hardlink' ? divertedTo.get(entry.linkTarget ?? '') : undefined;
          const target = diverted ? { ...entry, path: diverted } : linkTarget ? { ...entry, linkTarget } : entry;
          await journal.stage(target, content, verified, plan.shipped);
        },
      });
      if (!record) throw new ApkPackageError('EBADAPK', label, 'no control data');
      if (!read.control.signedBy) warnings.push(`${label}: UNTRUSTED signature; installed because untrusted packages are allowed`);
      checksum = read.checksum;
      record.checksum = checksum;
      record.indexLines = indexLines(pkg, checksum);
      // The pre-install sees the root without the package's files, as with apk;
      // the pre-upgrade sees the old version's.
      if (upgradeFrom) await run(record, 'pre-upgrade', [pkg.version, upgradeFrom.version]);
      else await run(record, 'pre-install', [pkg.version]);
      journal.commit(plan.shipped);
    } catch (e) {
      journal.rollback();
      throw e;
    }
    for (const entry of entries) {
      if (!skipped.has(entry.path)) touched.add(`/${entry.type === 'directory' ? entry.path : dirOf(entry.path).dir}`);
    }
    warnings.push(...(await applyXattrs(root, journal, label)));

    // The database record, in apk's order: directories as first seen, files within them.
    const dirs = new Map<string, InstalledDir>();
    const checksums = new Map<string, string>();
    for (const entry of entries) {
      const acl: Acl = { uid: entry.uid, gid: entry.gid, mode: entry.mode };
      if (entry.type === 'directory') {
        recordDir(record, dirs, entry.path, acl);
        continue;
      }
      if (skipped.has(entry.path)) continue;
      const { dir, base } = dirOf(entry.path);
      const file: InstalledFile = { name: base, acl };
      if (entry.type === 'file' && entry.sha1) file.checksum = sha1Checksum(entry.sha1);
      else if (entry.type === 'symlink') {
        file.checksum = sha1Checksum(entry.sha1 ?? createHash('sha1').update(entry.linkTarget ?? '').digest());
      } else if (entry.type === 'hardlink') {
        const target = checksums.get(entry.linkTarget ?? '');
        if (target) file.checksum = target;
      }
      if (file.checksum) checksums.set(entry.path, file.checksum);
      recordDir(record, dirs, dir).files.push(file);
      ownership.take(entry.path, record);
    }
    return record;
  }
}
