/**
 * Unpack a flattened rootfs tar into a fresh directory, inside the user
 * namespace so owners are the image's own (root:shadow stays 0:42 there).
 * Run as the namespace's root; nothing here follows a symlink: every
 * parent is a directory this extractor created itself.
 *
 * What a user namespace cannot create — device nodes and FIFOs — is not
 * created but returned, for mke2fs' companion debugfs to add to the image.
 * Extended attributes are applied at the end in one `setfattr --restore`
 * run (after chown, which would clear security.capability).
 *
 * A namespace task that does nothing else meanwhile: the tree is written
 * with blocking calls, since a thread-pool round trip for each of the
 * half dozen calls per file cost more than the calls themselves.
 */
import { chmodSync, closeSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, utimesSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { flatten } from '../layer/flatten.js';
import type { Digest } from '../oci/types.js';
import { BlobStore } from '../store/blob-store.js';
import { normalizeEntryPath } from '../layer/entry-path.js';
import { chownMapped } from '../layer/errors.js';
import { restoreXattrs, type XattrRecord } from '../layer/xattrs.js';
import type { TarHeader } from '../layer/tar-header.js';
import { readTar } from '../layer/tar-reader.js';
import { ExportError } from './errors.js';
import { UsageCounter, type TreeUsage } from './ext4-size.js';

/** An entry left for debugfs: a device node or FIFO, with what it carries. */
export interface SpecialEntry {
  /** Path relative to the root (latin1 binary string). */
  path: string;
  type: 'char' | 'block' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  major: number;
  minor: number;
  /** Extended attributes, values base64. */
  xattrs: [string, string][];
}

export interface MaterializedTree {
  usage: TreeUsage;
  /** The root directory's own attributes, which mke2fs -d does not copy. */
  root: { mode: number; uid: number; gid: number; mtime: number; xattrs: [string, string][] };
  specials: SpecialEntry[];
  /** Entries written (hardlinks included, the root not). */
  entries: number;
}

type Kind = 'dir' | 'file' | 'other';

interface DirAttrs {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** What a namespace task that unpacks the image gets: the layers and its work folder. */
export interface LayerTreePayload {
  /** OCI layout holding the layer blobs. */
  layoutDir: string;
  layers: Digest[];
  /** A name per layer, for error messages. */
  names: string[];
  /** A folder to create for the tree and scratch files, removed at the end. */
  work: string;
  /** Work folders of exports that were killed, to remove first. */
  stale: string[];
}

/** The image's layers, flattened, as a tree at `root`. */
export function materializeLayers(payload: LayerTreePayload, root: string, epoch: number | undefined): Promise<MaterializedTree> {
  const store = new BlobStore(payload.layoutDir);
  const openers = payload.layers.map((digest) => () => store.open(digest));
  return materialize(flatten(openers, { names: payload.names }), root, epoch === undefined ? {} : { epoch });
}

export async function materialize(tar: Readable | AsyncIterable<Buffer>, root: string, options: { epoch?: number } = {}): Promise<MaterializedTree> {
  const tree = new TreeWriter(root, options.epoch ?? 0);
  mkdirSync(root, { mode: 0o700 });
  for await (const entry of readTar(tar)) await tree.add(entry.header, entry.body);
  await tree.finish();
  return { usage: tree.counter.usage(), root: tree.rootAttrs(), specials: tree.specials, entries: tree.entries };
}

class TreeWriter {
  readonly counter = new UsageCounter();
  readonly specials: SpecialEntry[] = [];
  entries = 0;
  private readonly kinds = new Map<string, Kind>([['', 'dir']]);
  /** Attributes of every directory, applied last (deepest first) so writing into them works and mtimes stay. */
  private readonly dirs = new Map<string, DirAttrs>();
  /** Attributes for the one setfattr --restore run at the end. */
  private readonly xattrRecords: XattrRecord[] = [];
  private readonly rootBytes: Buffer;
  private rootXattrs: [string, string][] = [];

  constructor(
    root: string,
    private readonly defaultMtime: number,
  ) {
    this.rootBytes = Buffer.from(root, 'utf8');
    this.dirs.set('', { mode: 0o755, uid: 0, gid: 0, mtime: defaultMtime });
  }

  private abs(rel: string): Buffer {
    return rel === '' ? this.rootBytes : Buffer.concat([this.rootBytes, Buffer.from('/'), Buffer.from(rel, 'latin1')]);
  }

  async add(h: TarHeader, body: () => AsyncGenerator<Buffer>): Promise<void> {
    const path = normalizeEntryPath(h.path, 'the flattened image');
    if (h.type === 'link') h.linkname = normalizeEntryPath(h.linkname, `the flattened image, hardlink /${show(path)}`);
    if (path === '') {
      this.dirs.set('', { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
      this.rootXattrs = [...h.xattrs].map(([k, v]) => [k, v.toString('base64')]);
      this.queueXattrs('', h);
      this.counter.xattrs(h);
      return;
    }
    this.entries++;
    await this.ensureDir(parentOf(path));
    this.checkNew(path, h.type === 'dir');
    const p = this.abs(path);
    switch (h.type) {
      case 'dir':
        if (this.kinds.get(path) !== 'dir') {
          mkdirSync(p, { mode: 0o700 });
          this.kinds.set(path, 'dir');
          this.counter.directory(path);
        }
        this.dirs.set(path, { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
        this.counter.xattrs(h);
        this.queueXattrs(path, h);
        return;
      case 'file': {
        const fd = openSync(p, 'wx', 0o600);
        try {
          for await (const chunk of body()) {
            for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done);
          }
        } finally {
          closeSync(fd);
        }
        await own(p, path, h.uid, h.gid);
        chmodSync(p, h.mode);
        utimesSync(p, h.mtime, h.mtime);
        this.kinds.set(path, 'file');
        this.queueXattrs(path, h);
        break;
      }
      case 'link': {
        if (this.kinds.get(h.linkname) !== 'file') {
          throw new ExportError('EMATERIALIZE', `hardlink /${show(path)} points to /${show(h.linkname)}, which is not a regular file of the image; the image is malformed, rebuild it`);
        }
        linkSync(this.abs(h.linkname), p);
        this.kinds.set(path, 'file');
        break;
      }
      case 'symlink':
        symlinkSync(Buffer.from(h.linkname, 'latin1'), p);
        await own(p, path, h.uid, h.gid);
        lutimesSync(p, h.mtime, h.mtime);
        this.kinds.set(path, 'other');
        break;
      case 'char':
      case 'block':
      case 'fifo':
        this.specials.push({
          path,
          type: h.type,
          mode: h.mode,
          uid: h.uid,
          gid: h.gid,
          mtime: h.mtime,
          major: h.devmajor,
          minor: h.devminor,
          xattrs: [...h.xattrs].map(([k, v]) => [k, v.toString('base64')]),
        });
        this.kinds.set(path, 'other');
        break;
    }
    this.counter.entry(h);
  }

  rootAttrs(): MaterializedTree['root'] {
    const attrs = this.dirs.get('')!;
    return { ...attrs, xattrs: this.rootXattrs };
  }

  /** Make sure `dir` exists as a directory, creating missing parents (0755 root:root, like tar does). */
  private async ensureDir(dir: string): Promise<void> {
    const kind = this.kinds.get(dir);
    if (kind === 'dir') return;
    if (kind !== undefined) {
      throw new ExportError('EMATERIALIZE', `the image has entries below /${show(dir)}, which is not a directory; the image is malformed, rebuild it`);
    }
    await this.ensureDir(parentOf(dir));
    mkdirSync(this.abs(dir), { mode: 0o700 });
    this.kinds.set(dir, 'dir');
    this.dirs.set(dir, { mode: 0o755, uid: 0, gid: 0, mtime: this.defaultMtime });
    this.counter.directory(dir);
  }

  /** Each path comes once; only a directory may be named again (after children created it). */
  private checkNew(path: string, isDir: boolean): void {
    const kind = this.kinds.get(path);
    if (kind === undefined || (kind === 'dir' && isDir)) return;
    throw new ExportError('EMATERIALIZE', `the flattened image lists /${show(path)} twice; the image is malformed, rebuild it`);
  }

  private queueXattrs(path: string, h: TarHeader): void {
    if (h.xattrs.size === 0) return;
    this.xattrRecords.push({ path, attrs: h.xattrs });
  }

  async finish(): Promise<void> {
    if (this.xattrRecords.length > 0) await restoreXattrs(this.rootBytes.toString('utf8'), this.xattrRecords, "setting the image's extended attributes on the exported tree");
    const deepestFirst = [...this.dirs.entries()].sort(([a], [b]) => depth(b) - depth(a));
    for (const [path, attrs] of deepestFirst) {
      const p = this.abs(path);
      await own(p, path, attrs.uid, attrs.gid);
      chmodSync(p, attrs.mode);
      utimesSync(p, attrs.mtime, attrs.mtime);
    }
  }
}

/** chown, with the reason an owner cannot be set inside the namespace spelled out. */
async function own(p: Buffer, path: string, uid: number, gid: number): Promise<void> {
  await chownMapped(() => lchownSync(p, uid, gid), `/${show(path)}`, uid, gid);
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

function depth(path: string): number {
  return path === '' ? 0 : path.split('/').length;
}

function show(path: string): string {
  return Buffer.from(path, 'latin1').toString('utf8');
}
