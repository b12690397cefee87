/**
 * Attach the SBOM of each built arch to the image in the OCI layout as an
 * OCI 1.1 referrer: an artifact manifest (artifactType application/spdx+json,
 * the empty config, one layer holding the SPDX JSON) whose subject is the
 * arch's image manifest. The tag keeps pointing at the image.
 */
import type { BuiltImage } from '../store/built-image.js';
import { readBuiltImage } from '../store/built-image.js';
import type { AlpineArch, Config } from '../config/types.js';
import { Annotation, MediaType, type Descriptor, type ImageManifest } from '../oci/types.js';
import type { ImageSbomOptions } from './image-sbom.js';
import { findReferrers, putReferrer } from './referrers.js';
import { SPDX_JSON_MEDIA_TYPE, type SpdxDocument } from './types.js';
import { chooseArch } from '../config/choose-arch.js';

export interface AttachedSbom {
  arch: AlpineArch;
  /** The artifact manifest, as listed in index.json. */
  descriptor: Descriptor;
  /** The image manifest it refers to. */
  subject: Descriptor;
  sbom: SpdxDocument;
  /** The document exactly as stored (the artifact's layer). */
  bytes: Buffer;
}

/** The document as stored: pretty JSON, members in the order eib builds them (deterministic). */
export function sbomBytes(sbom: SpdxDocument): Buffer {
  return Buffer.from(`${JSON.stringify(sbom, null, 2)}\n`, 'utf8');
}

async function attachOne(config: Config, arch: AlpineArch, image: BuiltImage, options: ImageSbomOptions): Promise<AttachedSbom> {
  const { layout, manifestDescriptor } = image;
  // Loaded only when an SBOM is made: a no-op rebuild keeps the attached one.
  const { imageSbom } = await import('./image-sbom.js');
  const sbom = await imageSbom(config, arch, image, options);
  const bytes = sbomBytes(sbom);
  const layer = await layout.blobs.putBytes(bytes);
  const empty = await layout.blobs.putBytes(Buffer.from('{}'));
  const subject: Descriptor = { mediaType: manifestDescriptor.mediaType, digest: manifestDescriptor.digest, size: manifestDescriptor.size };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType: SPDX_JSON_MEDIA_TYPE,
    config: { mediaType: MediaType.Empty, digest: empty.digest, size: empty.size },
    layers: [{ mediaType: SPDX_JSON_MEDIA_TYPE, digest: layer.digest, size: layer.size, annotations: { [Annotation.Title]: `${config.name}-${arch}.spdx.json` } }],
    subject,
    annotations: { [Annotation.Created]: sbom.creationInfo.created },
  };
  const stored = await layout.putManifest(manifest);
  const replaced = await putReferrer(layout, stored, manifest);
  await dropUnreferenced(image, replaced, stored);
  const descriptor = (await findReferrers(layout, subject.digest, SPDX_JSON_MEDIA_TYPE)).find((r) => r.descriptor.digest === stored.digest)!.descriptor;
  return { arch, descriptor, subject, sbom, bytes };
}

/** Delete the manifests and documents of replaced SBOMs that nothing in the layout lists any more. */
async function dropUnreferenced(image: BuiltImage, replaced: readonly Descriptor[], current: Descriptor): Promise<void> {
  const { layout } = image;
  const entries = (await layout.readIndex()).manifests;
  const listed = new Set(entries.map((d) => d.digest));
  const inUse = new Set<string>([current.digest]);
  for (const d of entries) {
    if (d.artifactType !== SPDX_JSON_MEDIA_TYPE || !(await layout.blobs.has(d.digest))) continue;
    for (const l of (await layout.readManifest(d)).layers) inUse.add(l.digest);
  }
  for (const old of replaced) {
    if (listed.has(old.digest) || inUse.has(old.digest) || !(await layout.blobs.has(old.digest))) continue;
    const manifest = await layout.readManifest(old);
    await layout.blobs.delete(old.digest);
    for (const l of manifest.layers) if (!inUse.has(l.digest) && l.mediaType === SPDX_JSON_MEDIA_TYPE) await layout.blobs.delete(l.digest);
  }
}

/** The SBOM attached to `image`, or, when it has none yet, a new one made and attached. */
export async function ensureSbom(config: Config, arch: AlpineArch, image: BuiltImage, options: ImageSbomOptions = {}): Promise<AttachedSbom> {
  return (await attachedSbomOf(image, arch)) ?? attachOne(config, arch, image, options);
}

/** Make, store and list as a referrer the SBOM of every arch of the last build; replaces earlier SBOMs of the same images. */
export async function attachSbom(config: Config, options: ImageSbomOptions = {}): Promise<AttachedSbom[]> {
  const attached: AttachedSbom[] = [];
  for (const arch of config.arch) attached.push(await attachOne(config, arch, await readBuiltImage(config, arch), options));
  return attached;
}

/** The SBOM attached to the last build for `arch`, or undefined when there is none. */
export async function readAttachedSbom(config: Config, arch: AlpineArch): Promise<AttachedSbom | undefined> {
  return attachedSbomOf(await readBuiltImage(config, arch), arch);
}

async function attachedSbomOf(image: BuiltImage, arch: AlpineArch): Promise<AttachedSbom | undefined> {
  const subject = image.manifestDescriptor;
  const found = (await findReferrers(image.layout, subject.digest, SPDX_JSON_MEDIA_TYPE)).at(-1);
  const layer = found?.manifest.layers.find((l) => l.mediaType === SPDX_JSON_MEDIA_TYPE);
  if (!found || !layer) return undefined;
  const bytes = await image.layout.blobs.readBytes(layer.digest);
  const sbom = JSON.parse(bytes.toString('utf8')) as SpdxDocument;
  return { arch, descriptor: found.descriptor, subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size }, sbom, bytes };
}

/** What `eib sbom` prints: the attached SBOM of `arch` (the only arch when omitted), attached first when missing. */
export async function configuredSbom(config: Config, options: ImageSbomOptions & { arch?: string } = {}): Promise<AttachedSbom> {
  const arch = chooseArch(config, options.arch);
  return ensureSbom(config, arch, await readBuiltImage(config, arch), options);
}

