/**
 * Checkpoints: the record of a built stage. A checkpoint is valid when its
 * record, its layer blob and its snapshot (the upperdir later stages mount)
 * all exist, and cheap checks on every use find no damage (the record
 * parses and is that key's, the blob has the record's size). The record is
 * written last, flushed and renamed into place, so a build killed at any
 * point leaves either a whole checkpoint or none.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AlpineArch } from '../config/types.js';
import type { Descriptor, Digest } from '../oci/types.js';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { exists, readdirIfExists, readIfExists, statOrUndefined } from '../fs/stat.js';

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
import type { BlobStore } from './blob-store.js';
import { cacheDamaged, StoreError } from './errors.js';

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

  /** The record of `key`; undefined when there is none, ECACHEDAMAGED when it is not a whole record of that key. */
  async read(key: string): Promise<Checkpoint | undefined> {
    const path = this.recordPath(key);
    const text = (await readIfExists(path))?.toString('utf8');
    if (text === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw cacheDamaged(path, text.length === 0 ? 'is empty, not a checkpoint record' : 'is not valid JSON, not a checkpoint record', e);
    }
    const problem = recordProblem(value, key);
    if (problem !== undefined) throw cacheDamaged(path, problem);
    return value as Checkpoint;
  }

  /**
   * The checkpoint if its record, layer blob and snapshot exist; undefined
   * when one is missing (a miss: the stage is built again). A record that
   * does not parse, or a blob whose size is not the record's, is damage:
   * ECACHEDAMAGED naming the file, never reused.
   */
  async valid(key: string, store: BlobStore): Promise<Checkpoint | undefined> {
    const cp = await this.read(key);
    if (!cp) return undefined;
    if (cp.layer) {
      const blob = await statOrUndefined(store.path(cp.layer.digest));
      if (blob === undefined) return undefined;
      const size = blob.size;
      if (size !== cp.layer.size) throw cacheDamaged(store.path(cp.layer.digest), `has ${size} bytes, but the checkpoint of stage ${cp.stage} says ${cp.layer.size}`);
    }
    if (!(await exists(this.snapshotPath(key)))) return undefined;
    return cp;
  }

  async write(cp: Checkpoint): Promise<void> {
    const path = this.recordPath(cp.key);
    await mkdir(join(this.root, 'checkpoints'), { recursive: true });
    await writeFileAtomic(path, `${JSON.stringify(cp, null, 2)}\n`);
  }

  /** Keys of every record file, sorted (whole or not). */
  async keys(): Promise<string[]> {
    const names = await readdirIfExists(join(this.root, 'checkpoints'));
    return names.filter((n) => n.endsWith('.json')).sort().map((n) => n.slice(0, -'.json'.length));
  }

  /** Every whole record; damaged ones are left out (eib cache verify drops them). */
  async list(): Promise<Checkpoint[]> {
    const out: Checkpoint[] = [];
    for (const key of await this.keys()) {
      try {
        const cp = await this.read(key);
        if (cp) out.push(cp);
      } catch (e) {
        if (!(e instanceof StoreError && e.code === 'ECACHEDAMAGED')) throw e;
      }
    }
    return out;
  }

  async removeRecord(key: string): Promise<void> {
    await rm(this.recordPath(key), { force: true });
  }
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** What makes `value` not the record of `key`, or undefined when it is one. */
function recordProblem(value: unknown, key: string): string | undefined {
  if (typeof value !== 'object' || value === null) return 'is not a checkpoint record (not a JSON object)';
  const r = value as Partial<Record<keyof Checkpoint, unknown>>;
  if (r.format !== 1) return `has format ${JSON.stringify(r.format)}, not 1`;
  if (r.key !== key) return `names key ${JSON.stringify(r.key)}, not the key ${key} it is filed under`;
  if (typeof r.stage !== 'string' || typeof r.arch !== 'string' || typeof r.created !== 'string') return 'lacks its stage, arch or creation time';
  if (!Array.isArray(r.steps) || !Array.isArray(r.packages)) return 'lacks its steps or packages';
  if (r.layer === null) return r.diffId === null ? undefined : 'has a diff_id but no layer';
  const layer = r.layer as Partial<Descriptor> | undefined;
  if (typeof layer !== 'object' || typeof layer.digest !== 'string' || !DIGEST.test(layer.digest) || !Number.isSafeInteger(layer.size) || (layer.size ?? -1) < 0) {
    return 'has no valid layer descriptor';
  }
  if (typeof r.diffId !== 'string' || !DIGEST.test(r.diffId)) return 'has no valid diff_id';
  return undefined;
}
