/**
 * `eib build`: for each arch, resolve packages, compute every stage's cache
 * key, reuse the valid checkpoints, run the others inside the sandbox, and
 * write the OCI image whose layers are the stages.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { lockCacheShared, lockStage } from '../store/cache-lock.js';
import { sweepLeftovers } from './leftovers.js';
import { mapLimit } from '../fs/map-limit.js';
import type { AlpineArch, Config, Stage } from '../config/types.js';
import type { Descriptor } from '../oci/types.js';
import { fetchPackage } from '../apk/repository.js';
import { ARCHIVE_REPOSITORY, archivedPackagePath } from '../apk/archive.js';
import { loadKeys } from '../apk/keys.js';
import { PackageArchive } from './package-archive.js';
import { sharedGet } from '../remote/shared-get.js';
import { BlobStore } from '../store/blob-store.js';
import { EibError, wrapError } from '../errors.js';
import { stageCacheKey, type StageInputs } from './cache-key.js';
import { explainStage, newestCheckpoint, type StageExplanation } from './explain.js';
import { CheckpointStore, type Checkpoint } from '../store/checkpoints.js';
import { resolveStages, type ResolveOptions, type Resolution, type StagePackages } from './resolve.js';
import type { StageProgress, StageTaskPayload, StageTaskResult } from './stage-task.js';
import { writeBuildImage, type BuiltImage } from '../store/built-image.js';
import { checkMaxSize, rootfsSize } from '../inspect/size.js';
import type { SharedCache } from '../remote/shared-cache.js';
import { ensureSbom } from '../sbom/attach.js';
import { readLock, type LockedPackage } from '../project/lock-file.js';
import { isCorruptPackage } from '../apk/package-error.js';

export interface BuildEvents {
  /** `explain` (with the explain option) says why a stage that is not cached runs. */
  stageStart?(event: { arch: AlpineArch; stage: string; index: number; total: number; cached: boolean; key: string; explain?: StageExplanation }): void;
  stageDone?(event: { arch: AlpineArch; stage: string; result: StageResult }): void;
  stageFailed?(event: { arch: AlpineArch; stage: string }): void;
  /** Progress inside a running stage: its steps and packages, and downloads before it. */
  stageProgress?(event: { arch: AlpineArch; stage: string; progress: StageProgress | { type: 'download'; received: number; total: number } }): void;
  /** Output of the stage's scripts; by default it goes straight to stderr. */
  output?(chunk: Buffer): void;
  info?(message: string): void;
  warn?(message: string): void;
}

export interface StageResult {
  name: string;
  key: string;
  cached: boolean;
  /** Where the checkpoint came from: this machine's cache, the shared registry cache, or this build. */
  source: 'local' | 'shared' | 'built';
  layer: Descriptor | null;
  /** Compressed layer size in bytes (0 for an empty stage). */
  size: number;
  durationMs: number;
  /** With the explain option, for a stage that was not cached: what changed. */
  explain?: StageExplanation;
}

export interface ArchBuildResult {
  arch: AlpineArch;
  manifest: Descriptor;
  /** The image as written, for the code that goes on with it (exports). */
  image: BuiltImage;
  stages: StageResult[];
  /** Compressed bytes of the image's layers. */
  layerBytes: number;
  /** Bytes of the flattened rootfs (measured when outputs.max-size is set). */
  rootfsBytes?: number;
}

export interface BuildResult {
  /** With an epoch (config or $SOURCE_DATE_EPOCH) the same inputs give the same digest anywhere. */
  reproducible: boolean;
  /** The descriptor tagged in the layout: a manifest, or an index for several arches. */
  image: Descriptor;
  arches: ArchBuildResult[];
}

/** What a stage runner is told besides its payload. */
export interface StageRunHooks {
  network: boolean;
  onProgress: (progress: StageProgress) => void;
  onOutput?: (chunk: Buffer) => void;
  signal?: AbortSignal;
}

/** Runs one stage and returns its layer; the default runs stage-task.ts inside the sandbox namespace. */
export type StageRunner = (payload: StageTaskPayload, hooks: StageRunHooks) => Promise<StageTaskResult>;

/** The default runner. Loaded only when a stage runs: a no-op rebuild does not enter the sandbox. */
const runStageInNamespace: StageRunner = async (payload, hooks) => {
  const { runInNamespace } = await import('../sandbox/namespace.js');
  const { stageTask } = await import('./stage-task.js');
  return runInNamespace(stageTask, payload, {
    network: hooks.network,
    onProgress: (progress: unknown) => hooks.onProgress(progress as StageProgress),
    ...(hooks.onOutput ? { onOutput: hooks.onOutput } : {}),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
  });
};

export interface BuildOptions extends ResolveOptions {
  events?: BuildEvents;
  /** Runs the stages that are not cached (default: in the sandbox); tests of cache decisions pass their own. */
  stageRunner?: StageRunner;
  /** Say for each stage that is not cached which of its inputs changed. */
  explain?: boolean;
  signal?: AbortSignal;
}



async function dropCachedPackages(cacheDir: string, paths: readonly string[]): Promise<void> {
  const packagesDir = join(cacheDir, 'apk', 'packages');
  for (const path of paths) {
    if (path.startsWith(`${packagesDir}/`)) await rm(path, { force: true });
  }
}

/** Build every stage of every arch and write the image to config.outputs.oci. */
export async function build(config: Config, options: BuildOptions = {}): Promise<BuildResult> {
  await sweepLeftovers(config.cache.dir);
  const lock = await lockCacheShared(config.cache.dir, waitOptions(options));
  try {
    return await buildAll(config, options);
  } finally {
    await lock.release();
  }
}

async function buildAll(config: Config, options: BuildOptions): Promise<BuildResult> {
  const arches: ArchState[] = [];
  for (const arch of config.arch) arches.push(await buildArch(config, arch, options));
  const image = await writeBuildImage(config, arches.map((a) => ({ arch: a.arch, checkpoints: a.checkpoints })));
  // Every image carries an SPDX SBOM of its packages, as an OCI referrer;
  // an image that already has one (a no-op rebuild) keeps it.
  for (const [i, arch] of config.arch.entries()) await ensureSbom(config, arch, image.images[i]!, { onWarning: (m) => options.events?.warn?.(m) });
  const results: ArchBuildResult[] = [];
  for (const [i, a] of arches.entries()) {
    const layers = a.checkpoints.flatMap((cp) => (cp.layer ? [cp.layer] : []));
    const result: ArchBuildResult = { arch: a.arch, manifest: image.manifests[i]!, image: image.images[i]!, stages: a.stages, layerBytes: layers.reduce((n, l) => n + l.size, 0) };
    // The image stays written: eib size can then tell what takes the room.
    if (config.outputs.maxSize !== undefined) {
      const store = new BlobStore(config.cache.dir);
      const size = await rootfsSize(layers.map((l) => () => store.open(l.digest)), { top: 3 });
      checkMaxSize(config, a.arch, size);
      result.rootfsBytes = size.total;
    }
    results.push(result);
  }
  return { reproducible: config.epoch !== undefined, image: image.descriptor, arches: results };
}

function waitOptions(options: BuildOptions): { onWait: (message: string) => void; signal?: AbortSignal } {
  return { onWait: (m) => options.events?.info?.(m), ...(options.signal ? { signal: options.signal } : {}) };
}

interface ArchState {
  arch: AlpineArch;
  stages: StageResult[];
  checkpoints: Checkpoint[];
}

async function buildArch(config: Config, arch: AlpineArch, options: BuildOptions): Promise<ArchState> {
  const events = options.events ?? {};
  const store = new BlobStore(config.cache.dir);
  const checkpoints = new CheckpointStore(config.cache.dir);
  // Loaded only when configured: a no-op build should not pay for the registry client.
  const shared = config.cache.registry === undefined ? undefined : (await import('../remote/shared-cache.js')).SharedCache.forConfig(config, store, { warn: (m) => events.warn?.(m) });
  try {
    return await buildStages(config, arch, options, { store, checkpoints, shared });
  } finally {
    shared?.close();
  }
}

interface Stores {
  store: BlobStore;
  checkpoints: CheckpointStore;
  shared: SharedCache | undefined;
}

async function buildStages(config: Config, arch: AlpineArch, options: BuildOptions, { store, checkpoints, shared }: Stores): Promise<ArchState> {
  const events = options.events ?? {};
  const lock = await readLock(config.dir);
  const locked = lock?.arches[arch];
  const archive = new PackageArchive({ cacheDir: config.cache.dir, keys: loadKeys([...config.alpine.keys]), allowUntrusted: config.alpine.allowUntrusted, shared });
  const resolution = await resolveStages(config, arch, {
    ...options,
    ...(locked ? { locked, fromArchive: (pin: LockedPackage) => archive.pinned(pin) } : {}),
    ...(events.warn ? { warn: (m: string) => events.warn?.(m) } : {}),
  });
  const results: StageResult[] = [];
  const done: Checkpoint[] = [];
  let parent: string | null = null;
  // Read once, before this build writes records: what --explain compares with.
  let earlier: Promise<Checkpoint[]> | undefined;

  for (const [index, stage] of config.stages.entries()) {
    options.signal?.throwIfAborted();
    const packages = resolution.stages[index]!;
    if (options.explain) earlier ??= checkpoints.list();
    const { key, inputs } = await stageCacheKey({
      parent,
      stage,
      configDir: config.dir,
      packages: packages.install.map((p) => ({ name: p.name, version: p.version, checksum: p.checksum })),
      arch,
      imageRepositories: config.alpine.imageRepositories,
      ...(config.epoch === undefined ? {} : { epoch: config.epoch }),
    });
    const started = performance.now();
    let checkpoint = await checkpoints.valid(key, store);
    let source: StageResult['source'] = checkpoint ? 'local' : 'built';
    let explain: StageExplanation | undefined;
    // A stage missing from the cache is fetched or built under its key's lock: a
    // concurrent build of the same stage waits for this one and reuses its checkpoint.
    const stageLock = checkpoint ? undefined : await lockStage(config.cache.dir, key, stage.name, waitOptions(options));
    try {
      if (stageLock) checkpoint = await checkpoints.valid(key, store);
      if (checkpoint) source = 'local';
      if (!checkpoint && shared) {
        checkpoint = await shared.fetch(key, arch, options.signal ? { signal: options.signal } : {});
        if (checkpoint) source = 'shared';
      }
      const cached = checkpoint !== undefined;
      explain = !cached && earlier ? explainStage(inputs, newestCheckpoint(await earlier, stage.name, arch), config.stages[index - 1]?.name ?? null) : undefined;
      events.stageStart?.({ arch, stage: stage.name, index, total: config.stages.length, cached, key, ...(explain ? { explain } : {}) });
      if (!checkpoint) {
        checkpoint = await runStage({ config, arch, options, checkpoints, resolution, packages, stage, key, inputs, lowers: done, started });
        await checkpoints.write(checkpoint);
        await archive.keep(packages.install);
      }
    } finally {
      await stageLock?.release();
    }
    const cached = source !== 'built';
    // Local hits are published too: the cache may have been built before cache.registry was set.
    if (shared && source !== 'shared') await shared.publish(checkpoint);
    const stageResult: StageResult = {
      name: stage.name,
      key,
      cached,
      source,
      layer: checkpoint.layer,
      size: checkpoint.layer?.size ?? 0,
      durationMs: Math.round(performance.now() - started),
      ...(explain ? { explain } : {}),
    };
    results.push(stageResult);
    done.push(checkpoint);
    events.stageDone?.({ arch, stage: stage.name, result: stageResult });
    parent = key;
  }
  return { arch, stages: results, checkpoints: done };
}

interface StageRun {
  config: Config;
  arch: AlpineArch;
  options: BuildOptions;
  checkpoints: CheckpointStore;
  resolution: Resolution;
  packages: StagePackages;
  stage: Stage;
  key: string;
  inputs: StageInputs;
  /** Checkpoints of the earlier stages, bottom first. */
  lowers: readonly Checkpoint[];
  started: number;
}

/** Packages fetched at once: enough to keep a mirror connection busy, few enough to keep memory flat. */
const FETCH_CONCURRENCY = 8;

/** Download (in parallel) the packages a stage installs; paths of the cached .apk files. */
async function fetchStagePackages(run: StageRun): Promise<StageTaskPayload['packages']> {
  const { config, arch, options, stage, packages, resolution } = run;
  const total = packages.install.reduce((n, p) => n + p.size, 0);
  const received = new Map<string, number>();
  const onDownload = (p: { url: string; received: number }): void => {
    received.set(p.url, p.received);
    let sum = 0;
    for (const n of received.values()) sum += n;
    options.events?.stageProgress?.({ arch, stage: stage.name, progress: { type: 'download', received: sum, total } });
  };
  // A few at a time: hundreds of copies or downloads at once held a read and a write buffer each (170 MB for 300 packages).
  return mapLimit(packages.install, FETCH_CONCURRENCY, async (info) => {
    if (info.repository === ARCHIVE_REPOSITORY) return { info, path: archivedPackagePath(config.cache.dir, info) };
    const repo = resolution.repositories.find((r) => r.url === info.repository);
    if (!repo) throw new EibError('EREPO', `package ${info.name}-${info.version}: repository ${info.repository} is not configured`);
    return { info, path: await fetchPackage(repo, info, { cacheDir: config.cache.dir, http: sharedGet, onProgress: onDownload, ...(options.offline ? { offline: true } : {}) }) };
  });
}

/** Run one stage inside the sandbox; its checkpoint (not yet recorded). */
async function runStage(run: StageRun): Promise<Checkpoint> {
  const { config, arch, options, checkpoints, packages, stage, key } = run;
  const events = options.events ?? {};
  const paths = await fetchStagePackages(run);
  const payload: StageTaskPayload = {
    cacheDir: config.cache.dir,
    configDir: config.dir,
    snapshot: checkpoints.snapshotPath(key),
    scratch: await checkpoints.scratchDir(),
    arch,
    lowers: run.lowers.map((c) => checkpoints.snapshotPath(c.key)).reverse(),
    stage,
    packages: paths,
    ...(packages.remove.length > 0 ? { remove: packages.remove } : {}),
    ...(Object.keys(packages.tags).length > 0 ? { tags: packages.tags } : {}),
    world: packages.world,
    repositories: [...config.alpine.imageRepositories],
    keys: [...config.alpine.keys],
    allowUntrusted: config.alpine.allowUntrusted,
    scriptsFatal: config.alpine.scriptsFatal,
    ...(config.epoch === undefined ? {} : { epoch: config.epoch }),
  };
  let result: StageTaskResult;
  try {
    result = await (options.stageRunner ?? runStageInNamespace)(payload, {
      network: stage.network,
      onProgress: (progress) => events.stageProgress?.({ arch, stage: stage.name, progress }),
      ...(events.output ? { onOutput: (chunk: Buffer) => events.output?.(chunk) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (e) {
    events.stageFailed?.({ arch, stage: stage.name });
    // A cached .apk that is bad must not be reused by the next build.
    if (isCorruptPackage(e)) await dropCachedPackages(config.cache.dir, paths.map((p) => p.path));
    // An interrupted stage's namespace was killed before it could remove its scratch (files of subordinate ids).
    if (options.signal?.aborted) {
      const { runInNamespace } = await import('../sandbox/namespace.js');
      await runInNamespace((await import('./gc-task.js')).removeTreesTask, { paths: [payload.scratch] }).catch(() => undefined);
    }
    if ((e as { code?: unknown }).code === 'ENOSPC') {
      // The stage ran in the cache (its root, layer and snapshot); its scratch is already gone.
      throw new EibError('ENOSPC', `stage ${stage.name} (${arch}): no space left on the device of ${config.cache.dir}, where stages are built; free space there (eib gc removes unused checkpoints) and build again`, { cause: e });
    }
    throw wrapError(`stage ${stage.name} (${arch})`, e);
  }
  for (const w of result.warnings) events.warn?.(`stage ${stage.name}: ${w}`);
  return {
    format: 1,
    key,
    arch,
    stage: stage.name,
    steps: result.steps,
    layer: result.layer,
    diffId: result.diffId,
    packages: packages.install.map((p) => `${p.name}-${p.version}`),
    created: new Date().toISOString(),
    durationMs: Math.round(performance.now() - run.started),
    inputs: run.inputs,
  };
}
