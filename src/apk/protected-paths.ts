/**
 * apk's protected paths: configuration a user may have changed. When a
 * package ships a file in a protected directory and the root already holds
 * a different version that no package owns or that was modified since its
 * package installed it, apk keeps the existing file and writes the
 * package's as `<name>.apk-new`. Rules come from apk's built-in defaults
 * ("+etc", "@etc/init.d", "!etc/apk") and etc/apk/protected_paths.d/*.list;
 * the most specific rule for a directory wins.
 * Reference: apk-tools src/database.c (protected paths, apk_db_migrate_files).
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lstatOrUndefined } from '../fs/stat.js';

/** '+' protect, '-' unprotect, '@' protect (apk audits only symlinks there), '!' ignore. */
export type ProtectRule = '+' | '-' | '@' | '!';

const DEFAULT_RULES: readonly [string, ProtectRule][] = [
  ['etc', '+'],
  ['etc/init.d', '@'],
  ['etc/apk', '!'],
];

export class ProtectedPaths {
  private readonly rules = new Map<string, ProtectRule>();

  constructor(rules: Iterable<[string, ProtectRule]> = DEFAULT_RULES) {
    for (const [path, rule] of rules) this.rules.set(path.replace(/^\/+|\/+$/g, ''), rule);
  }

  /** Whether files directly in `dir` (relative, no leading slash) are protected. */
  isProtected(dir: string): boolean {
    const parts = dir.split('/').filter(Boolean);
    for (let n = parts.length; n > 0; n--) {
      const rule = this.rules.get(parts.slice(0, n).join('/'));
      if (rule !== undefined) return rule === '+' || rule === '@';
    }
    return false;
  }
}

/** The defaults plus the root's etc/apk/protected_paths.d/*.list, as apk reads them. */
export async function loadProtectedPaths(root: string): Promise<ProtectedPaths> {
  const rules: [string, ProtectRule][] = [...DEFAULT_RULES];
  const dir = join(root, 'etc/apk/protected_paths.d');
  const names = await readdir(dir).then(
    (all) => all.filter((n) => n.endsWith('.list')).sort(),
    () => [] as string[],
  );
  for (const name of names) {
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const rule = line[0];
      if (rule === '+' || rule === '-' || rule === '@' || rule === '!') rules.push([line.slice(1).trim(), rule]);
    }
  }
  return new ProtectedPaths(rules);
}

/**
 * "Q1…" checksum of what `path` (inside `root`, parents already checked)
 * holds now: a regular file's content or a symlink's target; undefined for
 * anything else or nothing.
 */
export async function checksumOnDisk(root: string, path: string): Promise<string | undefined> {
  const full = join(root, path);
  const st = await lstatOrUndefined(full);
  if (!st) return undefined;
  const hash = createHash('sha1');
  if (st.isSymbolicLink()) return `Q1${hash.update(await readlink(full)).digest('base64')}`;
  if (!st.isFile()) return undefined;
  const handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
  } finally {
    await handle.close();
  }
  return `Q1${hash.digest('base64')}`;
}
