/**
 * Checkpoints: the record of a built stage. A checkpoint is valid when its
 * record, its layer blob and its snapshot (the upperdir later stages mount)
 * all exist. The record is written last, atomically, so a build killed at
 * any point leaves either a whole checkpoint or none.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AlpineArch } from '../config/types.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { exists } from '../fs/stat.js';

/** What a stage's key was computed from, as the checkpoint record keeps it. */
export interface StageInputs {
  format: number;
  parent: string | null;
  arch: AlpineArch;
  epoch: number | null;
  /** The stage definition by key of eib.yaml (paths relative, content digests left out). */
  definition: Record<string, unknown>;
  /** Every host file the stage reads (files sources, scripts): path relative to the config's folder → sha256 hex. */
  hostFiles: Record<string, string>;
  /** Resolved packages: [name, version, checksum], in install order. */
  packages: [string, string, string][];
}

export interface Checkpoint {
  /** Format of this record. */
  readonly format: 1;
  readonly key: string;
  readonly arch: AlpineArch;
  readonly stage: string;
  /** Steps the stage ran, e.g. ["packages", "run"]. */
  readonly steps: readonly string[];
  /** The gzip layer; null when the stage changed nothing (empty_layer). */
  readonly layer: Descriptor | null;
  readonly diffId: Digest | null;
  /** Packages this stage installed (name-version), in order. */
  readonly packages: readonly string[];
  readonly created: string;
  readonly durationMs: number;
  /** What the key was computed from (records written before eib kept it lack it). */
  readonly inputs?: StageInputs;
}

export class CheckpointStore {
  readonly root: string;

  constructor(cacheDir: string) {
    this.root = cacheDir;
  }

  recordPath(key: string): string {
    return join(this.root, 'checkpoints', `${key}.json`);
  }

  snapshotPath(key: string): string {
    return join(this.root, 'snapshots', key);
  }

  /** A scratch folder on the cache's filesystem, so snapshots can be renamed into place. */
  async scratchDir(): Promise<string> {
    const dir = join(this.root, 'tmp', `${Date.now()}-${randomBytes(4).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async read(key: string): Promise<Checkpoint | undefined> {
    try {
      return JSON.parse(await readFile(this.recordPath(key), 'utf8')) as Checkpoint;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** The checkpoint if its record and snapshot exist and its blob passes `hasBlob`. */
  async valid(key: string, hasBlob: (digest: Digest) => Promise<boolean>): Promise<Checkpoint | undefined> {
    const cp = await this.read(key);
    if (!cp) return undefined;
    if (cp.layer && !(await hasBlob(cp.layer.digest))) return undefined;
    if (!(await exists(this.snapshotPath(key)))) return undefined;
    return cp;
  }

  async write(cp: Checkpoint): Promise<void> {
    const path = this.recordPath(cp.key);
    await mkdir(join(this.root, 'checkpoints'), { recursive: true });
    await writeFileAtomic(path, `${JSON.stringify(cp, null, 2)}\n`);
  }

  async list(): Promise<Checkpoint[]> {
    let names: string[];
    try {
      names = await readdir(join(this.root, 'checkpoints'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: Checkpoint[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      const cp = await this.read(name.slice(0, -'.json'.length));
      if (cp) out.push(cp);
    }
    return out;
  }

  async removeRecord(key: string): Promise<void> {
    await rm(this.recordPath(key), { force: true });
  }
}
