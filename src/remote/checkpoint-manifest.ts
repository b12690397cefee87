/**
 * How a stage checkpoint is stored in a registry (the shared cache). No I/O.
 *
 *   <cache.registry>:eib-<arch>-<cache key, 64 hex>
 *     → OCI image manifest, artifactType application/vnd.eib.checkpoint.v1+json
 *         config: the Checkpoint record (JSON, that media type)
 *         layers: [the stage's gzip layer]  — or, for a stage that changed
 *                 nothing, [the empty descriptor {}] (image-spec manifest.md
 *                 guidance for artifacts without content)
 *         annotations: dev.eib.cache-key, dev.eib.stage,
 *                      org.opencontainers.image.created
 *
 * Why a tag per checkpoint: a build knows the cache key before it runs the
 * stage, and a plain distribution registry can only look content up by tag
 * or digest (the referrers API and annotation queries are not universal), so
 * the key has to be in the tag: one HEAD answers "has anyone built this?".
 * The full key fits (tags take 128 characters); the arch is redundant with
 * the key but makes the tag list readable and prunable by arch.
 * Why a manifest with the record as its config: the tag names one manifest,
 * whose digest covers the record and the layer (a Merkle chain verified on
 * every pull), and registries keep blobs a manifest references (a bare blob
 * could be garbage-collected). The layer is the very blob of the built image,
 * so `eib push` to the same registry and the cache share it.
 */
import { IntegrityError } from '../errors.js';
import { canonicalJsonBytes } from '../oci/canonical-json.js';
import { digestOf, isDigest } from '../oci/digest.js';
import { Annotation, MediaType, type Descriptor, type ImageManifest } from '../oci/types.js';
import type { AlpineArch } from '../config/types.js';
import type { Checkpoint } from '../store/checkpoints.js';

/** eib's media type for a checkpoint record, and the artifact type of its manifest. */
export const CHECKPOINT_MEDIA_TYPE = 'application/vnd.eib.checkpoint.v1+json';

/** image-spec manifest.md: the empty JSON blob `{}`, for a manifest without layers. */
export const EMPTY_BLOB = Buffer.from('{}');
export const EMPTY_DESCRIPTOR: Descriptor = { mediaType: MediaType.Empty, digest: digestOf(EMPTY_BLOB), size: EMPTY_BLOB.length };

/** Records are a few hundred bytes; anything much larger is not one. */
export const RECORD_LIMIT = 1 << 20;

const KEY = /^[a-f0-9]{64}$/;
const LAYER_TYPES: ReadonlySet<string> = new Set([MediaType.LayerGzip]);

/** The tag of a checkpoint: `eib-<arch>-<key>`. */
export function checkpointTag(key: string, arch: AlpineArch): string {
  if (!KEY.test(key)) throw new TypeError(`checkpointTag: "${key}" is not a cache key (64 lowercase hex)`);
  return `eib-${arch}-${key}`;
}

export interface CheckpointArtifact {
  /** The record's exact bytes (canonical JSON), the manifest's config blob. */
  record: Buffer;
  recordDescriptor: Descriptor;
  /** The layer descriptor, or the empty descriptor for an empty stage. */
  layer: Descriptor;
  manifest: Buffer;
}

/** The blobs and manifest that store `cp`. */
export function checkpointArtifact(cp: Checkpoint): CheckpointArtifact {
  const record = canonicalJsonBytes(cp);
  const recordDescriptor: Descriptor = { mediaType: CHECKPOINT_MEDIA_TYPE, digest: digestOf(record), size: record.length };
  const layer: Descriptor = cp.layer ? { mediaType: cp.layer.mediaType, digest: cp.layer.digest, size: cp.layer.size } : EMPTY_DESCRIPTOR;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType: CHECKPOINT_MEDIA_TYPE,
    config: recordDescriptor,
    layers: [layer],
    annotations: { [Annotation.CacheKey]: cp.key, [Annotation.Stage]: cp.stage, [Annotation.Created]: cp.created },
  };
  return { record, recordDescriptor, layer, manifest: canonicalJsonBytes(manifest) };
}

export interface ParsedCheckpointManifest {
  record: Descriptor;
  /** null for an empty stage. */
  layer: Descriptor | null;
}

/** The refusal of a registry entry eib wrote (a checkpoint, an archived package) that is not what its tag names. */
export function entryRefusal(where: string): (why: string) => IntegrityError {
  return (why) => new IntegrityError('EINTEGRITY', `${where}: ${why}; refusing it. Something other than eib wrote this tag, or the entry is corrupt: delete the tag from the registry`);
}

/** A pulled OCI image manifest, as a shape still to check; refused when it is not one. */
export function readEntryManifest(bytes: Buffer, refuse: (why: string) => IntegrityError): Partial<ImageManifest> {
  let m: Partial<ImageManifest>;
  try {
    m = JSON.parse(bytes.toString('utf8')) as Partial<ImageManifest>;
  } catch {
    throw refuse('the manifest is not JSON');
  }
  if (m === null || typeof m !== 'object' || m.mediaType !== MediaType.ImageManifest) throw refuse('it is not an OCI image manifest');
  return m;
}

/** Check that a pulled manifest stores the checkpoint `key`; IntegrityError otherwise. */
export function parseCheckpointManifest(bytes: Buffer, where: string, key: string): ParsedCheckpointManifest {
  const refuse = entryRefusal(where);
  const m = readEntryManifest(bytes, refuse);
  if (m.artifactType !== CHECKPOINT_MEDIA_TYPE || m.config?.mediaType !== CHECKPOINT_MEDIA_TYPE) throw refuse(`it is not an eib checkpoint (artifactType ${JSON.stringify(m.artifactType)})`);
  if (m.annotations?.[Annotation.CacheKey] !== key) throw refuse(`it is annotated with cache key ${JSON.stringify(m.annotations?.[Annotation.CacheKey])}, not ${key}`);
  if (!descriptorOk(m.config) || m.config.size > RECORD_LIMIT) throw refuse('its record descriptor is malformed or too large');
  if (!Array.isArray(m.layers) || m.layers.length !== 1 || !descriptorOk(m.layers[0])) throw refuse('it must have exactly one layer');
  const layer = m.layers[0]!;
  if (layer.mediaType === MediaType.Empty) {
    if (layer.digest !== EMPTY_DESCRIPTOR.digest || layer.size !== EMPTY_DESCRIPTOR.size) throw refuse('its empty descriptor is not the empty blob');
    return { record: m.config, layer: null };
  }
  if (!LAYER_TYPES.has(layer.mediaType)) throw refuse(`its layer has media type ${layer.mediaType}, not ${MediaType.LayerGzip}`);
  return { record: m.config, layer };
}

/** Check a pulled record against what the tag and manifest promised; IntegrityError otherwise. */
export function parseCheckpointRecord(bytes: Buffer, where: string, expected: { key: string; arch: AlpineArch; layer: Descriptor | null }): Checkpoint {
  const refuse = (why: string): IntegrityError => new IntegrityError('EINTEGRITY', `${where}: ${why}; refusing it: delete the tag from the registry`);
  let cp: Checkpoint;
  try {
    cp = JSON.parse(bytes.toString('utf8')) as Checkpoint;
  } catch {
    throw refuse('the checkpoint record is not JSON');
  }
  if (cp === null || typeof cp !== 'object' || cp.format !== 1) throw refuse('the checkpoint record has an unknown format');
  if (cp.key !== expected.key) throw refuse(`the record is for cache key ${JSON.stringify(cp.key)}, not ${expected.key}`);
  if (cp.arch !== expected.arch) throw refuse(`the record is for arch ${JSON.stringify(cp.arch)}, not ${expected.arch}`);
  if (typeof cp.stage !== 'string' || !Array.isArray(cp.steps) || !Array.isArray(cp.packages) || typeof cp.created !== 'string' || typeof cp.durationMs !== 'number') {
    throw refuse('the checkpoint record lacks fields');
  }
  const layer = cp.layer;
  if (expected.layer === null) {
    if (layer !== null || cp.diffId !== null) throw refuse('the record names a layer the manifest does not carry');
  } else if (layer === null || layer.digest !== expected.layer.digest || layer.size !== expected.layer.size || layer.mediaType !== expected.layer.mediaType || !isDigest(cp.diffId)) {
    throw refuse(`the record's layer does not match the manifest's layer ${expected.layer.digest}`);
  }
  return cp;
}

function descriptorOk(d: Descriptor | undefined): d is Descriptor {
  return d !== undefined && d !== null && typeof d.mediaType === 'string' && isDigest(d.digest) && Number.isSafeInteger(d.size) && d.size >= 0;
}
