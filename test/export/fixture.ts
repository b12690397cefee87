/**
 * The export tests' project: an eib.yaml and a built OCI image made by
 * make-image.js as the test user (no package build needed), plus readers
 * that turn what eib wrote, and what umoci unpacks, into comparable
 * listings: path → "type mode uid:gid [target]".
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, SHARED_ALPINE, asUser, testUser, userTempDir } from '../helpers/user.js';

export const MINIROOTFS = join(SHARED_ALPINE, 'minirootfs', 'alpine-minirootfs-3.20.3-aarch64.tar.gz');
export const haveMinirootfs = existsSync(MINIROOTFS);
export const EPOCH = 1_700_000_000;

export function projectConfig(epoch: number | undefined): string {
  return [
    'name: exported',
    'arch: aarch64',
    ...(epoch === undefined ? [] : [`epoch: ${epoch}`]),
    'alpine:',
    `  repositories: [${join(SHARED_ALPINE, 'repo', 'v3.20', 'main')}]`,
    `  keys: [${join(SHARED_ALPINE, 'keys')}]`,
    'stages:',
    '  - name: base',
    '    packages: [busybox]',
    '  - name: configure',
    '    run: echo configured',
    '  - name: devices',
    '    run: echo devices',
    'outputs:',
    '  oci: out/oci',
    '  tag: latest',
    'cache:',
    '  dir: ./cache',
    '',
  ].join('\n');
}

/** A project folder owned by the test user, with eib.yaml and (unless `built` is false) its image. */
export function makeProject(options: { epoch?: number; built?: boolean } = {}): string {
  const dir = userTempDir('eib-export-');
  writeFileSync(join(dir, 'eib.yaml'), projectConfig('epoch' in options ? options.epoch : EPOCH));
  const user = testUser();
  if (!user.self) chownSync(join(dir, 'eib.yaml'), user.uid, user.gid);
  if (options.built !== false) {
    const script = join(REPO_ROOT, 'dist', 'test', 'export', 'make-image.js');
    const argv = [...asUser(), process.execPath, script, dir, MINIROOTFS];
    execFileSync(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return dir;
}

export type Listing = Map<string, string>;

function modeString(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** GNU tar's verbose listing of a tar, as path → "type mode uid:gid [target]"; hardlinks are "file". */
export function tarListing(file: string): Listing {
  const out = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const listing: Listing = new Map();
  for (const line of out.split('\n').filter(Boolean)) {
    const m = /^(\S)(\S{9}) (\d+)\/(\d+)\s+\S+ \S+ \S+ (.*)$/.exec(line);
    if (!m) throw new Error(`unexpected tar listing line: ${line}`);
    const [, t, perms, uid, gid, rest] = m as unknown as [string, string, string, string, string, string];
    let path = rest;
    let target = '';
    if (t === 'l') [path, target] = rest.split(' -> ') as [string, string];
    if (t === 'h') path = rest.split(' link to ')[0]!;
    const type = { '-': 'file', h: 'file', d: 'dir', l: 'symlink', c: 'char', b: 'block', p: 'fifo' }[t] ?? t;
    listing.set(`/${path.replace(/\/$/, '')}`, `${type} ${modeString(permBits(perms))} ${uid}:${gid}${target ? ` ${target}` : ''}`);
  }
  return listing;
}

/** "rwsr-xr-x" → 0o4755. */
function permBits(p: string): number {
  let mode = 0;
  const bit = (i: number, v: number): void => {
    if (p[i] !== '-' && p[i] !== 'S' && p[i] !== 'T') mode |= v;
  };
  for (const [i, v] of [[0, 0o400], [1, 0o200], [2, 0o100], [3, 0o40], [4, 0o20], [5, 0o10], [6, 0o4], [7, 0o2], [8, 0o1]] as const) bit(i, v);
  if (p[2] === 's' || p[2] === 'S') mode |= 0o4000;
  if (p[5] === 's' || p[5] === 'S') mode |= 0o2000;
  if (p[8] === 't' || p[8] === 'T') mode |= 0o1000;
  return mode;
}

/**
 * A tree unpacked by `umoci raw unpack --rootless`: files belong to the
 * unpacking user, the image's owners are in user.rootlesscontainers
 * (protobuf: field 1 uid, field 2 gid; 2^32-1 or absent means 0).
 */
export function umociListing(root: string): Listing {
  const owners = new Map<string, string>();
  const dump = execFileSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '^user.rootlesscontainers$', '-e', 'hex', '--absolute-names', root], { encoding: 'utf8', maxBuffer: 64 << 20 });
  let current = '';
  for (const line of dump.split('\n')) {
    if (line.startsWith('# file: ')) current = line.slice('# file: '.length).slice(root.length) || '/';
    const m = /^user\.rootlesscontainers=0x([0-9a-f]*)$/.exec(line);
    if (m) owners.set(current, decodeOwner(Buffer.from(m[1]!, 'hex')));
  }
  const listing: Listing = new Map();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = `${rel}/${name}`;
      const st = lstatSync(join(root, path));
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isFile() ? 'file' : 'other';
      const target = st.isSymbolicLink() ? ` ${readlinkSync(join(root, path))}` : '';
      listing.set(path, `${type} ${modeString(st.mode)} ${owners.get(path) ?? '0:0'}${target}`);
      if (st.isDirectory()) walk(path);
    }
  };
  walk('');
  return listing;
}

function decodeOwner(b: Buffer): string {
  const ids = [0, 0];
  let i = 0;
  while (i < b.length) {
    const field = (b[i++] ?? 0) >> 3;
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = b[i++] ?? 0;
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(byte & 0x80)) break;
    }
    if (field === 1 || field === 2) ids[field - 1] = v === 0xffffffff ? 0 : v;
  }
  return `${ids[0]}:${ids[1]}`;
}

/** A tree's listing, through GNU tar so it reads the same as tarListing. */
export function tarListingOfTree(root: string): Listing {
  const file = join(userTempDir('eib-tree-tar-'), 'tree.tar');
  execFileSync('tar', ['--numeric-owner', '-cf', file, '-C', root, '.']);
  const listing = new Map([...tarListing(file)].map(([p, v]) => [p.replace(/^\/\.\/?/, '/'), v] as const).filter(([p]) => p !== '/'));
  return listing;
}

/**
 * GNU cpio's verbose listing of a newc archive (cpio -tv), as path →
 * "type mode uid:gid [target]" like tarListing, plus each device's
 * "major,minor" and each file's link count.
 */
export function cpioListing(file: string): { listing: Listing; devices: Map<string, string>; nlinks: Map<string, number> } {
  const out = execFileSync('sh', ['-c', 'cpio -tv --numeric-uid-gid --quiet < "$1"', 'sh', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const listing: Listing = new Map();
  const devices = new Map<string, string>();
  const nlinks = new Map<string, number>();
  for (const line of out.split('\n').filter(Boolean)) {
    const m = /^(\S)(\S{9})\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+,\s+\d+|\d+)\s+\S+\s+\S+\s+\S+\s(.*)$/.exec(line);
    if (!m) throw new Error(`unexpected cpio listing line: ${line}`);
    const [, t, perms, nlink, uid, gid, size, rest] = m as unknown as [string, string, string, string, string, string, string, string];
    let path = rest;
    let target = '';
    if (t === 'l') [path, target] = rest.split(' -> ') as [string, string];
    const type = { '-': 'file', d: 'dir', l: 'symlink', c: 'char', b: 'block', p: 'fifo' }[t] ?? t;
    const key = path === '.' ? '/' : `/${path}`;
    listing.set(key, `${type} ${modeString(permBits(perms))} ${uid}:${gid}${target ? ` ${target}` : ''}`);
    if (t === 'c' || t === 'b') devices.set(key, size.replace(/\s+/g, ''));
    if (t === '-') nlinks.set(key, Number(nlink));
  }
  return { listing, devices, nlinks };
}

/** unsquashfs -lln as path → "type mode uid:gid [target]", like tarListing. */
export function squashfsListing(image: string): Listing {
  const out = execFileSync('unsquashfs', ['-lln', '-d', '', image], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const listing: Listing = new Map();
  for (const line of out.split('\n').filter((l) => /^[-dlcbps][rwxsStT-]{9} /.test(l))) {
    const m = /^(\S)(\S{9}) (\d+)\/(\d+)\s+\S+(?:,\s*\S+)? \S+ \S+ (.*)$/.exec(line);
    if (!m) throw new Error(`unexpected unsquashfs line: ${line}`);
    const [, t, perms, uid, gid, rest] = m as unknown as [string, string, string, string, string, string];
    let path = rest;
    let target = '';
    if (t === 'l') [path, target] = rest.split(' -> ') as [string, string];
    if (path === '') continue;
    const type = { '-': 'file', d: 'dir', l: 'symlink', c: 'char', b: 'block', p: 'fifo' }[t] ?? t;
    listing.set(path, `${type} ${modeString(permBits(perms))} ${uid}:${gid}${target ? ` ${target}` : ''}`);
  }
  return listing;
}
