/**
 * Safe extraction of one package's data entries into a root directory.
 *
 * Two phases over the same verified stream:
 * - `ExtractionPlan.check(entry)` (pass 1, nothing written): every parent
 *   component must be a real directory — resolved with lstat inside the
 *   root, never followed — whether it comes from this package, an earlier
 *   one or a lower layer; hardlinks must point at a file this package
 *   shipped earlier; a directory may not replace a non-directory nor the
 *   reverse.
 * - `writeEntry` (pass 2): files, symlinks and hardlinks are created under a
 *   temporary name beside their target and renamed into place once their
 *   content verified, so a target is never half written and never
 *   followed. Owners, modes (setuid/setgid included) and mtimes come from
 *   the tar. The parents are checked again right before each write.
 *
 * This runs inside the user namespace as uid 0, so chown works for any
 * id in the mapped range.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, open, rename, rmdir, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { ApkPackageError } from './package-error.js';
import type { ApkDataEntry, ApkEntryType } from './package-file.js';

const execFileAsync = promisify(execFile);

async function lstatOrUndefined(path: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function describe(st: import('node:fs').Stats): string {
  return st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? 'a directory' : st.isFile() ? 'a file' : 'a special file';
}

/**
 * Checks that every parent of `path` inside `root` is a directory and none
 * is a symlink, looking first at what this package already placed
 * (`shipped`), then at the disk.
 */
export async function checkParents(
  root: string,
  path: string,
  shipped: ReadonlyMap<string, ApkEntryType>,
  refuse: (reason: string) => Error,
): Promise<void> {
  const parts = path.split('/');
  let onDisk = true;
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join('/');
    const own = shipped.get(parent);
    if (own !== undefined && own !== 'directory') {
      throw refuse(`/${path} would be written through /${parent}, which this package ships as a ${own}`);
    }
    if (!onDisk) continue;
    const st = await lstatOrUndefined(join(root, parent));
    if (!st) {
      onDisk = false;
      continue;
    }
    if (st.isSymbolicLink()) throw refuse(`/${path} would be written through the symlink /${parent}`);
    if (!st.isDirectory()) throw refuse(`/${path} needs /${parent} to be a directory, but it is ${describe(st)}`);
  }
}

/** Pass 1: validates a package's entries against the root before anything is written. */
export class ExtractionPlan {
  /** What this package ships, by path, in tar order. */
  readonly shipped = new Map<string, ApkEntryType>();
  /** Hardlink targets resolved to the file they share content with. */
  private readonly files = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly label: string,
  ) {}

  private refuse = (reason: string): ApkPackageError => new ApkPackageError('EUNSAFE', this.label, `${reason}; refusing the whole package`);

  async check(entry: ApkDataEntry): Promise<void> {
    await checkParents(this.root, entry.path, this.shipped, this.refuse);
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
    const st = await lstatOrUndefined(join(this.root, entry.path));
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

/** Pass 2: what was written, so a failure midway can remove it again. */
export class ExtractionJournal {
  readonly createdDirs: string[] = [];
  readonly createdFiles: string[] = [];
  readonly xattrs: { path: string; name: string; value: Buffer }[] = [];

  /** Best-effort removal of what this package added (replaced files cannot come back). */
  async rollback(root: string): Promise<void> {
    for (const path of this.createdFiles.reverse()) await unlink(join(root, path)).catch(() => undefined);
    for (const path of this.createdDirs.reverse()) await rmdir(join(root, path)).catch(() => undefined);
  }
}

async function isMountPoint(root: string, path: string, st: import('node:fs').Stats): Promise<boolean> {
  const slash = path.lastIndexOf('/');
  const parent = await lstat(join(root, slash < 0 ? '' : path.slice(0, slash)));
  return parent.dev !== st.dev;
}

function tempName(path: string): string {
  const slash = path.lastIndexOf('/');
  return `${path.slice(0, slash + 1)}.apk.${randomBytes(8).toString('hex')}`;
}

/** Creates or updates a directory; false when it is a mount point left alone. */
async function ensureDirectory(root: string, path: string, journal: ExtractionJournal, entry?: ApkDataEntry): Promise<boolean> {
  const full = join(root, path);
  const st = await lstatOrUndefined(full);
  if (!st) {
    await mkdir(full, { mode: 0o700 });
    journal.createdDirs.push(path);
  } else if (!st.isDirectory()) {
    throw new Error(`/${path} is ${describe(st)}, not a directory`);
  }
  const mode = entry?.mode ?? 0o755;
  const uid = entry?.uid ?? 0;
  const gid = entry?.gid ?? 0;
  // A directory that already exists keeps its metadata unless this entry describes it;
  // a mount point of the stage root (/proc, /dev, /sys) is left alone.
  if (st && entry && (await isMountPoint(root, path, st))) return false;
  if (!st || (entry && ((st.mode & 0o7777) !== mode || st.uid !== uid || st.gid !== gid))) {
    // chown first: it clears setuid/setgid bits that chmod then sets.
    await chown(full, uid, gid);
    await chmod(full, mode);
  }
  return true;
}

/** Writes one entry (already checked by the plan) into `root`. */
export async function writeEntry(
  root: string,
  entry: ApkDataEntry,
  content: Readable,
  verified: Promise<void>,
  shipped: ReadonlyMap<string, ApkEntryType>,
  journal: ExtractionJournal,
  label: string,
): Promise<void> {
  const refuse = (reason: string): ApkPackageError => new ApkPackageError('EUNSAFE', label, reason);
  await checkParents(root, entry.path, shipped, refuse);
  // Parents missing from the tar are created like apk does: root-owned 0755.
  const parts = entry.path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join('/');
    if (!(await lstatOrUndefined(join(root, parent)))) await ensureDirectory(root, parent, journal);
  }
  for (const [name, value] of entry.xattrs) journal.xattrs.push({ path: entry.path, name, value });

  if (entry.type === 'directory') {
    if (await ensureDirectory(root, entry.path, journal, entry)) await utimes(join(root, entry.path), entry.mtime, entry.mtime);
    return;
  }

  const target = join(root, entry.path);
  const existed = (await lstatOrUndefined(target)) !== undefined;
  const temp = join(root, tempName(entry.path));
  try {
    if (entry.type === 'file') {
      const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        for await (const chunk of content as AsyncIterable<Buffer>) await handle.write(chunk);
        await verified;
        await handle.chown(entry.uid, entry.gid);
        await handle.chmod(entry.mode);
        await handle.utimes(entry.mtime, entry.mtime);
      } finally {
        await handle.close();
      }
    } else if (entry.type === 'symlink') {
      await symlink(entry.linkTarget ?? '', temp);
      await lchown(temp, entry.uid, entry.gid);
      await lutimes(temp, entry.mtime, entry.mtime);
    } else {
      // link(2) does not follow a symlink at the source; the plan made sure it is our own file.
      await link(join(root, entry.linkTarget ?? ''), temp);
    }
    await rename(temp, target);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  if (!existed) journal.createdFiles.push(entry.path);
}

/**
 * Applies the collected SCHILY.xattr records with one `setfattr --restore`
 * (Node has no xattr API). Returns warnings for what could not be set
 * (e.g. trusted.* inside a user namespace) instead of failing the package.
 */
export async function applyXattrs(root: string, journal: ExtractionJournal, label: string): Promise<string[]> {
  if (journal.xattrs.length === 0) return [];
  const dump: string[] = [];
  for (const { path, name, value } of journal.xattrs) {
    dump.push(`# file: ${escapeDumpPath(path)}`, `${name}=0x${value.toString('hex')}`, '');
  }
  const file = join(root, `.apk.xattrs.${randomBytes(8).toString('hex')}`);
  await writeFile(file, dump.join('\n') + '\n', { mode: 0o600 });
  try {
    // -h: never follow a symlink; paths are relative to the root (cwd).
    await execFileAsync('setfattr', ['-h', `--restore=${file}`], { cwd: root });
    return [];
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? String(e);
    return [`${label}: some extended attributes could not be set: ${stderr.trim()}`];
  } finally {
    await unlink(file).catch(() => undefined);
  }
}

/** getfattr's dump format escapes newlines, backslashes and non-printables as octal. */
function escapeDumpPath(path: string): string {
  return Buffer.from(path, 'utf8')
    .toString('latin1')
    .replace(/[\\\x00-\x20\x7f-\xff]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}
