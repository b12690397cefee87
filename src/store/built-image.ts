/**
 * The OCI image of a build: one manifest per arch whose layers are the
 * stages (an index when there are several arches), written to the layout at
 * outputs.oci and tagged outputs.tag. The manifest records each stage's
 * cache key, so `eib shell`, `eib gc` and exports find the checkpoints.
 */
import { link, mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AlpineArch, Config } from '../config/types.js';
import { EibError } from '../errors.js';
import { buildImageConfig, rfc3339, stageLayers, type StageRecord } from '../oci/image.js';
import { ociPlatform } from '../oci/platform.js';
import { Annotation, MediaType, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest } from '../oci/types.js';
import { BlobStore } from './blob-store.js';
import { OciLayout } from './layout.js';
import type { Checkpoint } from './checkpoints.js';
import { statOrUndefined } from '../fs/stat.js';

/** The tag that keeps the image a build replaced (for `eib diff`): `<outputs.tag>.previous`. */
export function previousTag(tag: string): string {
  return `${tag}.previous`;
}

/** Manifest annotation listing the stages and their cache keys, as JSON. */
export const STAGES_ANNOTATION = 'dev.eib.stages';

export interface BuiltStage {
  name: string;
  key: string;
  layer: Descriptor | null;
}

export interface WrittenBuild {
  /** What the tag points at: the manifest, or the index of several arches. */
  descriptor: Descriptor;
  /** One manifest per arch, in config order. */
  manifests: Descriptor[];
  /** The image of each arch as written, in config order: what readBuiltImage would read back. */
  images: BuiltImage[];
}

function stageRecord(cp: Checkpoint, epoch: number | undefined): StageRecord {
  const steps = cp.steps.length > 0 ? cp.steps.join(', ') : 'no steps';
  const created = epoch === undefined ? cp.created.replace(/\.\d{3}Z$/, 'Z') : rfc3339(epoch);
  return {
    name: cp.stage,
    createdBy: `eib stage ${cp.stage}: ${steps}`,
    created,
    comment: `eib stage ${cp.stage}; cache key ${cp.key}`,
    layer: cp.layer && cp.diffId ? { descriptor: { ...cp.layer, annotations: { [Annotation.CacheKey]: cp.key } }, diffId: cp.diffId } : null,
  };
}

/**
 * Make a cached blob part of the layout: a hard link when possible, else a
 * verified copy. A copy already there is kept when it is the cache's file
 * itself or has the descriptor's size; any other is damaged and replaced,
 * so a build repairs the layout once the cache is whole again.
 */
async function importBlob(store: BlobStore, layout: OciLayout, desc: Descriptor): Promise<void> {
  const target = layout.blobs.path(desc.digest);
  const present = await statOrUndefined(target);
  if (present) {
    const source = await stat(store.path(desc.digest));
    if ((present.ino === source.ino && present.dev === source.dev) || present.size === desc.size) return;
    await rm(target, { force: true });
  }
  await mkdir(dirname(target), { recursive: true });
  try {
    await link(store.path(desc.digest), target);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'EXDEV' && code !== 'EPERM') throw e;
  }
  await layout.blobs.put(store.open(desc.digest), { digest: desc.digest, size: desc.size });
}

export async function writeBuildImage(config: Config, arches: { arch: AlpineArch; checkpoints: readonly Checkpoint[] }[]): Promise<WrittenBuild> {
  const store = new BlobStore(config.cache.dir);
  const layout = await OciLayout.create(config.outputs.oci);
  const replaced = (await layout.tags()).includes(config.outputs.tag) ? await layout.resolve(config.outputs.tag) : undefined;
  const manifests: Descriptor[] = [];
  const images: BuiltImage[] = [];
  for (const { arch, checkpoints } of arches) {
    const records = checkpoints.map((cp) => stageRecord(cp, config.epoch));
    const layers = stageLayers(records);
    for (const layer of layers) await importBlob(store, layout, layer);
    const imageConfig = buildImageConfig({
      arch,
      stages: records,
      ...(config.epoch === undefined ? {} : { created: rfc3339(config.epoch) }),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    });
    const stages: BuiltStage[] = checkpoints.map((cp) => ({ name: cp.stage, key: cp.key, layer: cp.layer }));
    const written = await layout.writeImage({
      config: imageConfig,
      layers,
      annotations: { [STAGES_ANNOTATION]: JSON.stringify(stages.map((s) => ({ name: s.name, key: s.key }))), [Annotation.Title]: config.name },
    });
    manifests.push(written.manifest);
    images.push({ layout, manifestDescriptor: written.manifest, manifest: written.manifestJson, config: imageConfig, stages });
  }
  let descriptor: Descriptor;
  if (arches.length === 1) {
    descriptor = manifests[0]!;
  } else {
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests, annotations: { [Annotation.Title]: config.name } };
    descriptor = await layout.blobs.putJson(index, MediaType.ImageIndex);
  }
  // The image this build replaced stays readable as <tag>.previous (eib diff compares the two); one update of index.json.
  await layout.setTags([[config.outputs.tag, descriptor], ...(replaced && replaced.digest !== descriptor.digest ? [[previousTag(config.outputs.tag), replaced] as const] : [])]);
  return { descriptor, manifests, images };
}

export interface BuiltImage {
  layout: OciLayout;
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  stages: BuiltStage[];
}

async function manifestFor(layout: OciLayout, tagged: Descriptor, arch: AlpineArch, config: Config): Promise<Descriptor> {
  if (tagged.mediaType !== MediaType.ImageIndex) return tagged;
  const index = await layout.blobs.readJson<ImageIndex>(tagged.digest);
  const want = ociPlatform(arch);
  const found = index.manifests.find((m) => m.platform?.architecture === want.architecture && m.platform.variant === want.variant);
  if (!found) throw new EibError('ENOIMAGE', `the image ${config.outputs.oci}:${config.outputs.tag} has no ${arch} manifest; run eib build`);
  return found;
}

/** The image of the last build for `arch`, with its stages' cache keys. */
export async function readBuiltImage(config: Config, arch: AlpineArch): Promise<BuiltImage> {
  let layout: OciLayout;
  let tagged: Descriptor;
  try {
    layout = await OciLayout.open(config.outputs.oci);
    tagged = await layout.resolve(config.outputs.tag);
  } catch (e) {
    throw new EibError('ENOIMAGE', `no image tagged ${config.outputs.tag} in ${config.outputs.oci}: run eib build first`, { cause: e });
  }
  const manifestDescriptor = await manifestFor(layout, tagged, arch, config);
  const manifest = await layout.readManifest(manifestDescriptor);
  const imageConfig = await layout.readConfig(manifest);
  const listed = JSON.parse(manifest.annotations?.[STAGES_ANNOTATION] ?? '[]') as { name: string; key: string }[];
  const byKey = new Map(manifest.layers.map((l) => [l.annotations?.[Annotation.CacheKey], l]));
  const stages = listed.map((s) => ({ name: s.name, key: s.key, layer: byKey.get(s.key) ?? null }));
  return { layout, manifestDescriptor, manifest, config: imageConfig, stages };
}

/** Cache keys of every stage of every image tagged in the project's layout. */
export async function imageStageKeys(config: Config): Promise<string[]> {
  const keys: string[] = [];
  for (const arch of config.arch) {
    try {
      keys.push(...(await readBuiltImage(config, arch)).stages.map((s) => s.key));
    } catch (e) {
      if (!(e instanceof EibError && e.code === 'ENOIMAGE')) throw e;
    }
  }
  return keys;
}
