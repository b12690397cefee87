/**
 * Runs one shared-cache operation as whichever user starts it (the tests
 * start it as the unprivileged test user, since snapshots are written
 * inside its user namespace):
 *   node dist/test/remote/shared-cache-driver.js OP 'PAYLOAD-JSON'
 * Prints {"value": …, "warnings": […]} or {"error": {name, code, message}, "warnings": […]}.
 */
import { mkdirSync } from 'node:fs';
import type { AlpineArch } from '../../src/config/types.js';
import { CheckpointStore, type Checkpoint } from '../../src/store/checkpoints.js';
import { SharedCache } from '../../src/remote/shared-cache.js';
import { runInNamespace } from '../../src/sandbox/namespace.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { configFor, type CacheTarget } from './shared-cache-fixture.js';
import type { LayerResult } from './shared-cache-tasks.js';
import { inspectTask, makeStageTask, mergedViewTask, rewriteTask } from './shared-cache-tasks.js';


const warnings: string[] = [];
const fast = { client: { maxAttempts: 2, retryDelayMs: 20 }, warn: (m: string) => warnings.push(m) };

type Ops = Record<string, (p: never) => Promise<unknown>>;
const ops: Ops = {
  /** Build a stage on a real overlay and record it as a checkpoint of cacheDir. */
  async stage(p: CacheTarget & { key: string; arch: AlpineArch; base: string; name: string; empty?: boolean }): Promise<Checkpoint> {
    const checkpoints = new CheckpointStore(p.cacheDir);
    const work = await checkpoints.scratchDir();
    const r = await runInNamespace(makeStageTask, { work, base: p.base, snapshot: checkpoints.snapshotPath(p.key), storeDir: p.cacheDir, empty: p.empty ?? false });
    const cp: Checkpoint = {
      format: 1,
      key: p.key,
      arch: p.arch,
      stage: p.name,
      steps: p.empty ? [] : ['run'],
      layer: r.layer,
      diffId: r.diffId,
      packages: [],
      created: '2024-05-06T07:08:09.000Z',
      durationMs: 1234,
    };
    await checkpoints.write(cp);
    return cp;
  },
  async publish(p: CacheTarget & { key: string }): Promise<string> {
    const cp = await new CheckpointStore(p.cacheDir).read(p.key);
    if (!cp) throw new Error(`no checkpoint ${p.key} in ${p.cacheDir}`);
    const cache = new SharedCache(configFor(p), new BlobStore(p.cacheDir), fast);
    try {
      return await cache.publish(cp);
    } finally {
      cache.close();
    }
  },
  async fetch(p: CacheTarget & { key: string; arch: AlpineArch }): Promise<{ checkpoint: Checkpoint | null; valid: boolean; lookup: boolean }> {
    mkdirSync(p.cacheDir, { recursive: true });
    const store = new BlobStore(p.cacheDir);
    const cache = new SharedCache(configFor(p), store, fast);
    try {
      const lookup = await cache.lookup(p.key, p.arch);
      const checkpoint = await cache.fetch(p.key, p.arch);
      const valid = (await new CheckpointStore(p.cacheDir).valid(p.key, store)) !== undefined;
      return { checkpoint: checkpoint ?? null, valid, lookup };
    } finally {
      cache.close();
    }
  },
  async rewrite(p: { snapshot: string; lowers: string[]; storeDir: string }): Promise<LayerResult> {
    return runInNamespace(rewriteTask, p);
  },
  async merged(p: { lowers: string[]; mountpoint: string }): Promise<string[]> {
    return runInNamespace(mergedViewTask, p);
  },
  async inspect(p: { root: string; paths: string[] }): Promise<unknown> {
    return runInNamespace(inspectTask, p);
  },
};

const [op, payload] = process.argv.slice(2);
const fn = op === undefined ? undefined : ops[op];
if (fn === undefined) {
  process.stderr.write(`usage: shared-cache-driver.js ${Object.keys(ops).join('|')} PAYLOAD-JSON\n`);
  process.exit(2);
}
try {
  const value = await fn(JSON.parse(payload ?? 'null') as never);
  process.stdout.write(`${JSON.stringify({ value, warnings })}\n`);
} catch (e) {
  const err = e as { name?: string; code?: string; message?: string };
  process.stdout.write(`${JSON.stringify({ error: { name: err.name, code: err.code, message: err.message }, warnings })}\n`);
  process.exit(1);
}
