/**
 * Builders for the image config (config.md) and manifest (manifest.md) of a
 * staged build: one history entry per stage, and a layer only for stages
 * that changed something (the others are marked empty_layer).
 */
import type { AlpineArch } from '../config/types.js';
import { ociPlatform } from './platform.js';
import { Annotation, MediaType, type Descriptor, type Digest, type History, type ImageConfig, type ImageManifest } from './types.js';

export interface StageRecord {
  /** Stage name; recorded as the history comment and the layer's dev.eib.stage annotation. */
  name: string;
  /** What produced the layer, e.g. "eib stage base: packages alpine-baselayout busybox". */
  createdBy: string;
  /** RFC 3339 time; with an epoch, the epoch's time. */
  created: string;
  comment?: string;
  /** The stage's layer, or null when the stage changed nothing. */
  layer: { descriptor: Descriptor; diffId: Digest } | null;
}

export interface ImageConfigInput {
  arch: AlpineArch;
  stages: readonly StageRecord[];
  /** Image creation time (RFC 3339); defaults to the last stage's. */
  created?: string;
  config?: ImageConfig['config'];
}

/** RFC 3339 (UTC, seconds) of a Unix time in seconds. */
export function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function buildImageConfig(input: ImageConfigInput): ImageConfig {
  const platform = ociPlatform(input.arch);
  const history: History[] = input.stages.map((s) => {
    const h: History = { created: s.created, created_by: s.createdBy, comment: s.comment ?? `eib stage ${s.name}` };
    if (s.layer === null) h.empty_layer = true;
    return h;
  });
  const diffIds = input.stages.flatMap((s) => (s.layer === null ? [] : [s.layer.diffId]));
  const created = input.created ?? input.stages.at(-1)?.created;
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history,
  };
  if (platform.variant !== undefined) config.variant = platform.variant;
  if (created !== undefined) config.created = created;
  if (input.config !== undefined) config.config = input.config;
  return config;
}

/** The layer descriptors of the stages that have one, each annotated with its stage name. */
export function stageLayers(stages: readonly StageRecord[]): Descriptor[] {
  return stages.flatMap((s) =>
    s.layer === null ? [] : [{ ...s.layer.descriptor, annotations: { ...s.layer.descriptor.annotations, [Annotation.Stage]: s.name } }],
  );
}

export function buildManifest(config: Descriptor, layers: readonly Descriptor[], annotations?: Record<string, string>): ImageManifest {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ ...l })),
  };
  if (annotations !== undefined && Object.keys(annotations).length > 0) manifest.annotations = { ...annotations };
  return manifest;
}
