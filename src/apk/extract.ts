/**
 * Safe extraction of one package's data entries into a root directory.
 *
 * One read of the package, three steps per entry and per package:
 * - `ExtractionPlan.check(entry)`: every parent component must be a real
 *   directory — resolved with lstat inside the root, never followed —
 *   whether it comes from this package, an earlier one or a lower layer;
 *   hardlinks must point at a file this package shipped earlier; a
 *   directory may not replace a non-directory nor the reverse.
 * - `ExtractionJournal.stage(entry)`: files, symlinks and hardlinks are
 *   written under a temporary name beside their target (never followed),
 *   with owners, modes (setuid/setgid included) and mtimes from the tar.
 * - `commit()`, once the whole package verified (signature, control and
 *   data hashes, every file's checksum): the parents are checked again and
 *   the temporary names renamed into place. A refusal at any point before
 *   goes to `rollback()`, which removes all the package wrote, so a
 *   hostile or corrupt package leaves no trace.
 *
 * This runs inside the user namespace as uid 0, so chown works for any
 * id in the mapped range. It runs in a process that does nothing else
 * meanwhile, so the file system is used with blocking calls: a thread-pool
 * round trip for each of the dozen calls per file cost more than the calls
 * (apk-tools writes the same packages several times faster).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, renameSync, rmdirSync, symlinkSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ApkPackageError } from './package-error.js';
import type { ApkDataEntry, ApkEntryType } from './package-file.js';
import { lstatSyncOrUndefined } from '../fs/stat.js';
import { LayerError } from '../layer/errors.js';
import { restoreXattrs } from '../layer/xattrs.js';


function describe(st: import('node:fs').Stats): string {
  return st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? 'a directory' : st.isFile() ? 'a file' : 'a special file';
}

/**
 * Checks that every parent of `path` inside `root` is a directory and none
 * is a symlink, looking first at what this package already placed
 * (`shipped`), then at the disk.
 */
export function checkParents(
  root: string,
  path: string,
  shipped: ReadonlyMap<string, ApkEntryType>,
  refuse: (reason: string) => Error,
  knownDirs?: Set<string>,
): void {
  const parts = path.split('/');
  let onDisk = true;
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join('/');
    const own = shipped.get(parent);
    if (own !== undefined && own !== 'directory') {
      throw refuse(`/${path} would be written through /${parent}, which this package ships as a ${own}`);
    }
    if (!onDisk || knownDirs?.has(parent)) continue;
    const st = lstatSyncOrUndefined(join(root, parent));
    if (!st) {
      onDisk = false;
      continue;
    }
    if (st.isSymbolicLink()) throw refuse(`/${path} would be written through the symlink /${parent}`);
    if (!st.isDirectory()) throw refuse(`/${path} needs /${parent} to be a directory, but it is ${describe(st)}`);
    knownDirs?.add(parent);
  }
}

/** Pass 1: validates a package's entries against the root before anything is written. */
export class ExtractionPlan {
  /** What this package ships, by path, in tar order. */
  readonly shipped = new Map<string, ApkEntryType>();
  /** Hardlink targets resolved to the file they share content with. */
  private readonly files = new Set<string>();
  /** Parents found to be real directories: nothing but this package's own staging writes during its read. */
  private readonly dirsOnDisk = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly label: string,
  ) {}

  private refuse = (reason: string): ApkPackageError => new ApkPackageError('EUNSAFE', this.label, `${reason}; refusing the whole package`);

  check(entry: ApkDataEntry): void {
    checkParents(this.root, entry.path, this.shipped, this.refuse, this.dirsOnDisk);
    const earlier = this.shipped.get(entry.path);
    if (earlier !== undefined && (earlier !== 'directory' || entry.type !== 'directory')) {
      throw new ApkPackageError('EBADAPK', this.label, `/${entry.path} appears twice in the package`);
    }
    if (entry.type === 'hardlink') {
      const target = entry.linkTarget ?? '';
      if (!this.files.has(target)) {
        throw this.refuse(`hardlink /${entry.path} points at /${target}, which is not a file shipped earlier in this package`);
      }
    }
    const st = lstatSyncOrUndefined(join(this.root, entry.path));
    if (st) {
      if (entry.type === 'directory' && !st.isDirectory()) {
        throw this.refuse(`directory /${entry.path} exists in the root as ${describe(st)}`);
      }
      if (entry.type !== 'directory' && st.isDirectory()) {
        throw this.refuse(`/${entry.path} would replace a directory`);
      }
    }
    this.shipped.set(entry.path, entry.type);
    if (entry.type === 'file' || entry.type === 'hardlink') this.files.add(entry.path);
  }
}

/** A file, symlink or hardlink written under a temporary name, renamed into place at commit. */
interface StagedEntry {
  path: string;
  temp: string;
}

/**
 * What one package wrote while it was read: entries under temporary names,
 * directories it created, and the directory metadata to apply. Nothing
 * reaches its final name before `commit`, which runs only once the whole
 * package verified; `rollback` removes everything it wrote.
 */
export class ExtractionJournal {
  readonly createdDirs: string[] = [];
  readonly createdFiles: string[] = [];
  readonly xattrs: { path: string; name: string; value: Buffer }[] = [];
  private staged: StagedEntry[] = [];
  /** Temporary name of each staged path, for hardlinks to a file not yet committed. */
  private readonly tempOf = new Map<string, string>();
  /** Directories to give their metadata at commit; `implied` ones were only created as parents. */
  private readonly dirEntries: { entry: ApkDataEntry; implied: boolean }[] = [];
  /** Directories this package's staging found or created. */
  private readonly knownDirs = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly label: string,
  ) {}

  private refuse = (reason: string): ApkPackageError => new ApkPackageError('EUNSAFE', this.label, reason);

  /**
   * Writes one entry (already checked by the plan) under a temporary name
   * beside its target; `verified` must settle before the file counts as
   * written. Directories are created (owner-only) but get their metadata at
   * commit.
   */
  async stage(entry: ApkDataEntry, content: Readable, verified: Promise<void>, shipped: ReadonlyMap<string, ApkEntryType>): Promise<void> {
    const { root } = this;
    // The plan checked the parents just now; create the missing ones like apk does
    // (root-owned 0755), never through a symlink.
    const parts = entry.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (this.knownDirs.has(parent)) continue;
      if (shipped.has(parent) && shipped.get(parent) !== 'directory') throw this.refuse(`/${entry.path} would be written through /${parent}, which this package ships as a ${shipped.get(parent)}`);
      const st = lstatSyncOrUndefined(join(root, parent));
      if (!st) {
        mkdirSync(join(root, parent), { mode: 0o700 });
        this.createdDirs.push(parent);
        this.dirEntries.push({ entry: { path: parent, type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: entry.mtime, xattrs: new Map() }, implied: true });
      } else if (!st.isDirectory()) {
        throw this.refuse(`/${entry.path} needs /${parent} to be a directory, but it is ${describe(st)}`);
      }
      this.knownDirs.add(parent);
    }
    for (const [name, value] of entry.xattrs) this.xattrs.push({ path: entry.path, name, value });

    if (entry.type === 'directory') {
      const st = lstatSyncOrUndefined(join(root, entry.path));
      if (!st) {
        mkdirSync(join(root, entry.path), { mode: 0o700 });
        this.createdDirs.push(entry.path);
      } else if (!st.isDirectory()) {
        throw new Error(`/${entry.path} is ${describe(st)}, not a directory`);
      }
      this.dirEntries.push({ entry, implied: false });
      return;
    }

    const temp = join(root, tempName(entry.path));
    this.staged.push({ path: entry.path, temp });
    if (entry.type === 'file') {
      const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        for await (const chunk of content as AsyncIterable<Buffer>) {
          for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done);
        }
        await verified;
        // chown first: it clears setuid/setgid bits that chmod then sets.
        fchownSync(fd, entry.uid, entry.gid);
        fchmodSync(fd, entry.mode);
        futimesSync(fd, entry.mtime, entry.mtime);
      } finally {
        closeSync(fd);
      }
    } else if (entry.type === 'symlink') {
      symlinkSync(entry.linkTarget ?? '', temp);
      lchownSync(temp, entry.uid, entry.gid);
      lutimesSync(temp, entry.mtime, entry.mtime);
    } else {
      // link(2) does not follow a symlink at the source; the plan made sure it is a file
      // this package shipped (still under its temporary name) or one the root keeps.
      const target = entry.linkTarget ?? '';
      linkSync(this.tempOf.get(target) ?? join(root, target), temp);
    }
    this.tempOf.set(entry.path, temp);
  }

  /**
   * Renames every staged entry into place and applies directory metadata.
   * Parents are checked again first: a pre-install script ran since staging.
   */
  commit(shipped: ReadonlyMap<string, ApkEntryType>): void {
    const { root } = this;
    const checkedDirs = new Set<string>();
    const checkParentsOf = (path: string): void => {
      const slash = path.lastIndexOf('/');
      const dir = slash < 0 ? '' : path.slice(0, slash);
      if (checkedDirs.has(dir)) return;
      checkParents(root, path, shipped, this.refuse);
      checkedDirs.add(dir);
    };
    while (this.staged.length > 0) {
      const { path, temp } = this.staged[0] as StagedEntry;
      checkParentsOf(path);
      const target = join(root, path);
      const current = lstatSyncOrUndefined(target);
      const existed = current !== undefined;
      if (current?.isDirectory()) throw this.refuse(`/${path} would replace a directory`);
      renameSync(temp, target);
      this.staged.shift();
      this.tempOf.delete(path);
      if (!existed) this.createdFiles.push(path);
    }
    // Directory metadata last: renames into a directory change its mtime.
    const created = new Set(this.createdDirs);
    for (const { entry, implied } of this.dirEntries) {
      // chown and chmod follow symlinks: no parent may have become one.
      checkParentsOf(entry.path);
      applyDirectory(root, this.label, entry, created.has(entry.path), implied);
    }
  }

  /**
   * Best-effort removal of what this package added (replaced files cannot
   * come back). A script may have turned a parent into a symlink meanwhile:
   * such paths are left alone rather than followed out of the root.
   */
  rollback(): void {
    const { root } = this;
    /** Whether `op` ran without throwing: removal is best effort, and an unsafe parent is a reason to leave a path alone. */
    const attempt = (op: () => void): boolean => {
      try {
        op();
        return true;
      } catch {
        return false;
      }
    };
    const safe = new Map<string, boolean>();
    const parentsSafe = (path: string): boolean => {
      const slash = path.lastIndexOf('/');
      const dir = slash < 0 ? '' : path.slice(0, slash);
      let ok = safe.get(dir);
      if (ok === undefined) {
        ok = attempt(() => checkParents(root, path, new Map(), (reason) => new Error(reason)));
        safe.set(dir, ok);
      }
      return ok;
    };
    for (const { path, temp } of this.staged.reverse()) if (parentsSafe(path)) attempt(() => unlinkSync(temp));
    this.staged = [];
    for (const path of this.createdFiles.reverse()) if (parentsSafe(path)) attempt(() => unlinkSync(join(root, path)));
    for (const path of this.createdDirs.reverse()) if (parentsSafe(path)) attempt(() => rmdirSync(join(root, path)));
  }
}

function isMountPoint(root: string, path: string, st: import('node:fs').Stats): boolean {
  const slash = path.lastIndexOf('/');
  const parent = lstatSync(join(root, slash < 0 ? '' : path.slice(0, slash)));
  return parent.dev !== st.dev;
}

function tempName(path: string): string {
  const slash = path.lastIndexOf('/');
  return `${path.slice(0, slash + 1)}.apk.${randomBytes(8).toString('hex')}`;
}

/**
 * Gives a directory the tar's owner, mode and mtime. One created only as a
 * parent gets root 0755; an existing one the tar does not describe, and a
 * mount point of the stage root (/proc, /dev, /sys), are left alone.
 */
function applyDirectory(root: string, label: string, entry: ApkDataEntry, created: boolean, implied: boolean): void {
  const full = join(root, entry.path);
  const st = lstatSync(full);
  if (!st.isDirectory()) throw new ApkPackageError('EUNSAFE', label, `/${entry.path} is ${describe(st)} now, not a directory`);
  if (!created && isMountPoint(root, entry.path, st)) return;
  if (created || (st.mode & 0o7777) !== entry.mode || st.uid !== entry.uid || st.gid !== entry.gid) {
    // chown first: it clears setuid/setgid bits that chmod then sets.
    chownSync(full, entry.uid, entry.gid);
    chmodSync(full, entry.mode);
  }
  if (!implied) utimesSync(full, entry.mtime, entry.mtime);
}

/**
 * Applies the collected SCHILY.xattr records with one `setfattr --restore`
 * (Node has no xattr API). Returns warnings for what could not be set
 * (e.g. trusted.* inside a user namespace) instead of failing the package.
 */
export async function applyXattrs(root: string, journal: ExtractionJournal, label: string): Promise<string[]> {
  if (journal.xattrs.length === 0) return [];
  // Paths and names as byte strings, as the dump writer takes them.
  const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
  const records = journal.xattrs.map(({ path, name, value }) => ({ path: bytes(path), attrs: [[bytes(name), value] as const] }));
  try {
    await restoreXattrs(root, records, `${label}: setting extended attributes`);
    return [];
  } catch (e) {
    if (!(e instanceof LayerError && e.code === 'EXATTR')) throw e;
    return [e.message];
  }
}
