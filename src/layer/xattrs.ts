/**
 * Extended attributes of a whole tree, read with one `getfattr -R` run and
 * written with one `setfattr --restore` run, both in getfattr's dump format.
 *
 * Node has no xattr API, and a native addon would be a new dependency. One
 * getfattr process per tree (Debian package `attr`) costs a few
 * milliseconds, where one per file would dominate layer creation. It runs
 * in the caller's namespaces, so inside the build's user namespace it reads
 * files owned by subordinate ids like any other. Output is streamed and only
 * the attributes a layer keeps are held in memory.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { missingToolError, runToolChecked } from '../fs/tool.js';
import { LayerError } from './errors.js';

export interface TreeXattrs {
  /** Kept attributes by path relative to the root (latin1), root itself as "". */
  attrs: Map<string, Map<string, Buffer>>;
  /** Directories (relative paths) marked opaque by overlayfs. */
  opaque: Set<string>;
}

/** What a layer carries: file capabilities and user attributes, but not overlayfs' own. */
export function keepXattr(name: string): boolean {
  return name === 'security.capability' || (name.startsWith('user.') && !name.startsWith('user.overlay.'));
}

const OPAQUE = new Set(['user.overlay.opaque', 'trusted.overlay.opaque']);

export async function readTreeXattrs(root: string): Promise<TreeXattrs> {
  const result: TreeXattrs = { attrs: new Map(), opaque: new Set() };
  const rootBytes = Buffer.from(root.replace(/\/+$/, '') || '/', 'utf8');
  // -P: do not follow symlinked directories; -h: the symlink's own attributes.
  const child = spawn('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', root], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') reject(missingToolError('getfattr', 'attr', e));
      else reject(e);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
  let current: string | null = null;
  const lines = createInterface({ input: child.stdout.setEncoding('latin1'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.startsWith('# file: ')) {
      const abs = unescapeOctal(line.slice('# file: '.length));
      current = relativeTo(rootBytes.toString('latin1'), abs);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === null || eq <= 0) continue;
    const name = unescapeOctal(line.slice(0, eq));
    const value = decodeValue(line.slice(eq + 1));
    if (OPAQUE.has(name)) {
      if (value.toString('latin1') === 'y') result.opaque.add(current);
    } else if (keepXattr(name)) {
      let m = result.attrs.get(current);
      if (!m) result.attrs.set(current, (m = new Map()));
      m.set(name, value);
    }
  }
  const code = await exited;
  if (code !== 0) {
    throw new LayerError('EXATTR', `reading extended attributes of ${root} failed (getfattr exit ${code}): ${stderr.trim()}`);
  }
  return result;
}

/** One file's attributes for a restore. Paths and names are byte strings (latin1), as the tar reader gives them. */
export interface XattrRecord {
  /** Relative to the folder the restore runs in; "" is that folder. */
  path: string;
  attrs: Iterable<readonly [name: string, value: Buffer]>;
}

/** getfattr's --dump format, which `setfattr --restore` reads back: one block per file, values in base64. */
export function* xattrDump(records: Iterable<XattrRecord>): Generator<Buffer> {
  for (const { path, attrs } of records) {
    const lines = [`# file: ${escapeDumpText(path === '' ? '.' : path)}`];
    for (const [name, value] of attrs) lines.push(`${escapeDumpText(name)}=${value.length === 0 ? '""' : `0s${value.toString('base64')}`}`);
    yield Buffer.from(`${lines.join('\n')}\n\n`, 'latin1');
  }
}

/**
 * getfattr's quoting, which setfattr reverses: every byte outside printable
 * ASCII, space, '=' (it ends a name) and backslash as \ooo. Quoting more than
 * getfattr does is harmless: setfattr unquotes any \ooo.
 */
export function escapeDumpText(latin1: string): string {
  let out = '';
  for (let i = 0; i < latin1.length; i++) {
    const c = latin1.charCodeAt(i);
    out += c <= 0x20 || c >= 0x7f || c === 0x5c || c === 0x3d ? `\\${c.toString(8).padStart(3, '0')}` : latin1[i];
  }
  return out;
}

/**
 * Set every attribute of `records` under `root` with one `setfattr -h
 * --restore` run (never following a symlink), the dump streamed to it.
 * `doing` names the work in the error (code EXATTR).
 */
export async function restoreXattrs(root: string, records: Iterable<XattrRecord>, doing: string): Promise<void> {
  await runToolChecked(['setfattr', '-h', '--restore=-'], {
    cwd: root,
    input: xattrDump(records),
    debianPackage: 'attr',
    doing,
    error: (message) => new LayerError('EXATTR', message),
  });
}

/** getfattr prints unprintable bytes, and backslash, as \ooo. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function decodeValue(text: string): Buffer {
  if (text.startsWith('0s')) return Buffer.from(text.slice(2), 'base64');
  if (text.startsWith('0x')) return Buffer.from(text.slice(2), 'hex');
  if (text.startsWith('"') && text.endsWith('"')) return Buffer.from(unescapeOctal(text.slice(1, -1)), 'latin1');
  return Buffer.from(text, 'latin1');
}

function relativeTo(root: string, abs: string): string {
  if (abs === root) return '';
  const prefix = root === '/' ? '/' : `${root}/`;
  return abs.startsWith(prefix) ? abs.slice(prefix.length) : abs;
}
