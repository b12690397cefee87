/**
 * One gzip OCI layer → a directory in overlayfs upperdir form, the inverse
 * of writeLayer(kind 'upperdir'): `.wh.<name>` becomes a whiteout (char
 * device 0/0 named <name>), `.wh..wh..opq` the xattr user.overlay.opaque=y
 * on its directory, and owners, modes, mtimes, symlinks, hardlinks, devices,
 * fifos and kept xattrs come from the tar. Mounted as an overlay lower, the
 * result shows the same tree as the upperdir the layer was written from.
 *
 * Runs inside the build's user namespace as uid 0, so owners are namespace
 * ids. Node has no mknod and no xattr API: device nodes, fifos and
 * whiteouts are made by one `tar -x` run (per batch) under ASCII scratch
 * names and renamed into place (names need not be UTF-8); xattrs are set by
 * one `setfattr --restore` run (Debian package `attr`).
 *
 * The layer is untrusted: every entry must land inside `dir`, never through
 * a symlink, and only the xattrs a layer may carry are set (never the
 * user.overlay.* ones that steer overlayfs).
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rename, rm, rmdir, symlink, utimes } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Digest } from '../oci/types.js';
import { HashCounter } from '../store/hash-stream.js';
import { ancestors, normalizeEntryPath } from './entry-path.js';
import { LayerError } from './errors.js';
import { GUNZIP_CHUNK } from './flatten.js';
import { encodeHeader, END_OF_ARCHIVE, type TarHeader } from './tar-header.js';
import { readTar } from './tar-reader.js';
import { classifyWhiteout } from './whiteout.js';
import { keepXattr, restoreXattrs } from './xattrs.js';
import { chownMapped, UnpackError } from './errors.js';
import { runToolChecked } from '../fs/tool.js';
import { lstatOrUndefined } from '../fs/stat.js';

export interface UnpackOptions {
  /** How errors name the layer (its digest, its stage); default "layer". */
  name?: string;
}

export interface UnpackedLayer {
  /** sha256 of the uncompressed tar, to check against the layer's diff_id. */
  diffId: Digest;
  /** Tar entries read, whiteouts and opaque markers included. */
  entries: number;
}

/** What a directory, file or node gets once everything is in place. */
interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** A node Node cannot make itself: whiteout, device or fifo. */
interface NodeSpec extends Meta {
  kind: 'c' | 'b' | 'p';
  major: number;
  minor: number;
}

const OPAQUE_XATTR = 'user.overlay.opaque';

export async function unpackLayerToUpper(layer: Readable, dir: string, options: UnpackOptions = {}): Promise<UnpackedLayer> {
  const writer = new UpperWriter(dir, `layer ${options.name ?? ''}`.trim());
  await mkdir(dir, { recursive: true });
  const counter = new HashCounter();
  const tar = pipeline(layer, createGunzip({ chunkSize: GUNZIP_CHUNK }), counter, () => undefined);
  const chunks = tar[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  // readTar stops at the end-of-archive blocks and would close its source;
  // the padding after them still belongs to the diff_id, so it is drained here.
  const uncancellable: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: () => chunks.next() }) };
  let entries = 0;
  try {
    for await (const entry of readTar(uncancellable)) {
      entries++;
      await writer.add(entry.header, entry.body);
    }
    while (!(await chunks.next()).done);
    await writer.finish();
  } catch (e) {
    tar.destroy();
    layer.destroy();
    throw e;
  }
  return { diffId: counter.digest, entries };
}

class UpperWriter {
  private readonly root: Buffer;
  /** Paths verified (or made) to be real directories. */
  private readonly dirs = new Set<string>(['']);
  /** Nodes to make in the next batch, by path. */
  private readonly nodes = new Map<string, NodeSpec>();
  private readonly dirMeta = new Map<string, Meta>();
  private readonly xattrs = new Map<string, Map<string, Buffer>>();
  private readonly opaque = new Set<string>();

  constructor(
    dir: string,
    private readonly where: string,
  ) {
    this.root = Buffer.from(dir.replace(/\/+$/, '') || '/', 'utf8');
  }

  private abs(rel: string): Buffer {
    return rel === '' ? this.root : Buffer.concat([this.root, Buffer.from('/'), Buffer.from(rel, 'latin1')]);
  }

  private shown(rel: string): string {
    return JSON.stringify(Buffer.from(rel, 'latin1').toString('utf8'));
  }

  async add(h: TarHeader, body: () => AsyncGenerator<Buffer>): Promise<void> {
    const path = normalizeEntryPath(h.path, this.where);
    const meta: Meta = { mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: h.mtime };
    const wh = classifyWhiteout(path);
    if (wh.kind === 'meta') return;
    if (wh.kind === 'opaque') {
      await this.ensureDir(wh.dir);
      this.opaque.add(wh.dir);
      return;
    }
    if (wh.kind === 'whiteout') {
      const name = wh.target.slice(wh.target.lastIndexOf('/') + 1);
      if (name === '.' || name === '..') {
        throw new LayerError('ELAYERPATH', `${this.where}: whiteout ${this.shown(path)} names ${this.shown(name)}, which is not an entry; the layer is malformed or malicious, rebuild it`);
      }
      // overlayfs makes whiteouts with mode 0, owned by the mounter.
      await this.prepare(wh.target, false);
      this.nodes.set(wh.target, { kind: 'c', major: 0, minor: 0, mode: 0, uid: 0, gid: 0, mtime: h.mtime });
      return;
    }
    if (path === '') {
      if (h.type !== 'dir') throw new LayerError('ELAYERFORMAT', `${this.where}: the root entry is a ${h.type}, not a directory`);
      this.dirMeta.set('', meta);
      this.keepXattrs('', h.xattrs);
      return;
    }
    switch (h.type) {
      case 'dir':
        await this.prepare(path, true);
        if (!this.dirs.has(path)) await this.mkdirAt(path);
        this.dirMeta.set(path, meta);
        break;
      case 'file':
        await this.prepare(path, false);
        await this.writeFile(path, meta, body);
        break;
      case 'symlink':
        await this.prepare(path, false);
        await symlink(Buffer.from(h.linkname, 'latin1'), this.abs(path));
        await this.ownership(() => lchown(this.abs(path), meta.uid, meta.gid), path, meta);
        await lutimes(this.abs(path), meta.mtime, meta.mtime);
        break;
      case 'link':
        await this.hardlink(path, h.linkname);
        break;
      case 'char':
      case 'block':
      case 'fifo':
        await this.prepare(path, false);
        this.nodes.set(path, { ...meta, kind: h.type === 'char' ? 'c' : h.type === 'block' ? 'b' : 'p', major: h.devmajor, minor: h.devminor });
        break;
    }
    if (h.type !== 'link') this.keepXattrs(path, h.xattrs);
  }

  /** Make the nodes, then the attributes the entries asked for (chown before xattrs: it drops file capabilities). */
  async finish(): Promise<void> {
    await this.flushNodes();
    for (const [path, meta] of this.dirMeta) {
      await this.ownership(() => lchown(this.abs(path), meta.uid, meta.gid), path, meta);
      await chmod(this.abs(path), meta.mode);
    }
    await this.applyXattrs();
    // Last: making children changed every directory's mtime.
    for (const [path, meta] of this.dirMeta) await utimes(this.abs(path), meta.mtime, meta.mtime);
  }

  private keepXattrs(path: string, attrs: Map<string, Buffer>): void {
    const kept = [...attrs].filter(([name]) => keepXattr(name));
    if (kept.length > 0) this.xattrs.set(path, new Map(kept));
    else this.xattrs.delete(path);
  }

  /** Check the parents of `path` are real directories (making missing ones), and clear `path` for a new entry. */
  private async prepare(path: string, keepDir: boolean): Promise<void> {
    for (const parent of ancestors(path)) await this.ensureDir(parent);
    this.nodes.delete(path);
    let isDir: boolean;
    try {
      isDir = (await lstat(this.abs(path))).isDirectory();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    if (isDir && keepDir) {
      this.dirs.add(path);
      return;
    }
    // A later entry replaces an earlier one at the same path, as tar does.
    await rm(this.abs(path), { recursive: true, force: true });
    this.forget(path);
  }

  private forget(path: string): void {
    const under = `${path}/`;
    for (const set of [this.dirs, this.opaque]) for (const p of set) if (p === path || p.startsWith(under)) set.delete(p);
    for (const map of [this.nodes, this.dirMeta, this.xattrs] as Map<string, unknown>[]) {
      for (const p of map.keys()) if (p === path || p.startsWith(under)) map.delete(p);
    }
  }

  /** `path` is a real directory, made (mode 0755, root) when the layer did not list it first. */
  private async ensureDir(path: string): Promise<void> {
    if (this.dirs.has(path)) return;
    for (const parent of ancestors(path)) await this.ensureDir(parent);
    // A node not made yet at this path is replaced by the directory.
    this.nodes.delete(path);
    let st: Stats | undefined;
    try {
      st = await lstat(this.abs(path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (st === undefined) {
      await this.mkdirAt(path);
      await chmod(this.abs(path), 0o755);
      return;
    }
    if (st.isSymbolicLink()) {
      throw new LayerError('ELAYERPATH', `${this.where}: an entry goes through the symlink ${this.shown(path)}; an upperdir never holds paths under a symlink, so the layer is malformed or malicious: rebuild it`);
    }
    if (!st.isDirectory()) throw new LayerError('ELAYERFORMAT', `${this.where}: an entry lies under ${this.shown(path)}, which is not a directory; rebuild the layer`);
    this.dirs.add(path);
  }

  private async mkdirAt(path: string): Promise<void> {
    await mkdir(this.abs(path), { mode: 0o700 });
    this.dirs.add(path);
  }

  private async writeFile(path: string, meta: Meta, body: () => AsyncGenerator<Buffer>): Promise<void> {
    // 'wx' (O_EXCL): never follows a symlink, never writes into an existing file.
    const fh = await open(this.abs(path), 'wx', 0o600);
    try {
      for await (const chunk of body()) {
        let off = 0;
        while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
      }
      await this.ownership(() => fh.chown(meta.uid, meta.gid), path, meta);
      await fh.chmod(meta.mode);
      await fh.utimes(meta.mtime, meta.mtime);
    } finally {
      await fh.close();
    }
  }

  private async hardlink(path: string, linkname: string): Promise<void> {
    const target = normalizeEntryPath(linkname, `${this.where} (hardlink ${this.shown(path)})`);
    if (target === path) return;
    for (const parent of ancestors(target)) {
      if (!this.dirs.has(parent)) await this.ensureDir(parent);
    }
    if (this.nodes.has(target)) await this.flushNodes();
    const st = await lstatOrUndefined(this.abs(target));
    if (st === undefined || st.isDirectory()) throw new LayerError('ELAYERLINK', `${this.where}: hardlink ${this.shown(path)} points at ${this.shown(target)}, which is not an earlier file of the layer; rebuild the layer`);
    await this.prepare(path, false);
    await link(this.abs(target), this.abs(path));
  }

  private async ownership(chown: () => Promise<void>, path: string, meta: Meta): Promise<void> {
    await chownMapped(chown, `${this.where}: ${this.shown(path)}`, meta.uid, meta.gid);
  }

  /** Make the pending nodes under ASCII scratch names, all in one tar run, then rename each into place. */
  private async flushNodes(): Promise<void> {
    if (this.nodes.size === 0) return;
    const pending = [...this.nodes];
    this.nodes.clear();
    const scratch = `.eib-nodes-${randomBytes(8).toString('hex')}`;
    const scratchAbs = this.abs(scratch).toString('utf8');
    await mkdir(scratchAbs, { mode: 0o700 });
    try {
      await runToolChecked(['tar', '-x', '-f', '-', '--numeric-owner'], {
        cwd: scratchAbs,
        input: nodeArchive(pending),
        debianPackage: 'tar',
        doing: `${this.where}: making device nodes and whiteouts with tar`,
      }).catch((e: unknown) => {
        const device = pending.find(([, n]) => n.kind !== 'p' && (n.major !== 0 || n.minor !== 0));
        if (device === undefined) throw e;
        throw new UnpackError(
          'EDEVICE',
          `${this.where}: it holds the device node ${this.shown(device[0])}, and device nodes can only be made by real root, not inside a user namespace; build this stage locally instead`,
          { cause: e },
        );
      });
      for (const [i, [path, n]] of pending.entries()) {
        const abs = this.abs(path);
        await rename(`${scratchAbs}/${i}`, abs);
        await this.ownership(() => lchown(abs, n.uid, n.gid), path, n);
        // After chown, which clears setuid/setgid bits.
        await chmod(abs, n.mode);
        await lutimes(abs, n.mtime, n.mtime);
      }
    } finally {
      await rmdir(scratchAbs).catch(() => rm(scratchAbs, { recursive: true, force: true }));
    }
  }

  /** All xattrs (and opaque markers) in one `setfattr --restore` run, fed getfattr's dump format. */
  private async applyXattrs(): Promise<void> {
    for (const dir of this.opaque) this.xattrs.set(dir, new Map([...(this.xattrs.get(dir) ?? []), [OPAQUE_XATTR, Buffer.from('y')]]));
    if (this.xattrs.size === 0) return;
    const records = [...this.xattrs].map(([path, attrs]) => ({ path, attrs }));
    await restoreXattrs(this.root.toString('utf8'), records, `${this.where}: setting extended attributes`);
  }
}

/**
 * The pending nodes as a tar of headers only, named by their index. One
 * `tar -x` makes any number of them, where the mknod binary takes one node
 * per process (a stage deleting a package's 2000 files leaves 2000 whiteouts).
 */
function* nodeArchive(pending: readonly (readonly [string, NodeSpec])[]): Generator<Buffer> {
  for (const [i, [, n]] of pending.entries()) {
    const type = n.kind === 'c' ? 'char' : n.kind === 'b' ? 'block' : 'fifo';
    yield encodeHeader({ path: String(i), type, mode: n.mode & 0o777, uid: 0, gid: 0, size: 0, mtime: n.mtime, linkname: '', devmajor: n.major, devminor: n.minor, xattrs: new Map() });
  }
  yield END_OF_ARCHIVE;
}
