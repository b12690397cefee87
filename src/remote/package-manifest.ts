/**
 * How an archived .apk is stored in a registry (the package archive of the
 * shared cache). No I/O.
 *
 *   <cache.registry>:apk-<hex of the package's C: checksum>
 *     → OCI image manifest, artifactType application/vnd.eib.apk.v1
 *         config: the empty descriptor {}
 *         layers: [the .apk file, media type application/vnd.eib.apk.v2]
 *         annotations: dev.eib.apk.checksum (C: as the index writes it),
 *                      org.opencontainers.image.title (<name>-<version>.apk)
 *
 * Why a tag per checksum: a locked build knows each pin's checksum before
 * it needs the package, and a plain registry finds content only by tag or
 * digest, so one GET of the tag answers "has anyone archived this?". The
 * checksum, not the name, is the identity: two different packages with the
 * same name and version (a rebuilt -r0) get two entries. The manifest
 * digest covers the .apk blob, and the .apk itself is then checked like a
 * repository package (signature by a trusted key, control checksum equal
 * to the lock's), so the registry is trusted for availability only.
 */
import { canonicalJsonBytes } from '../oci/canonical-json.js';
import { isDigest } from '../oci/digest.js';
import { Annotation, MediaType, type Descriptor, type ImageManifest } from '../oci/types.js';
import { checksumHex, type PackagePin } from '../apk/archive.js';
import { EMPTY_DESCRIPTOR, entryRefusal, readEntryManifest } from './checkpoint-manifest.js';

export const PACKAGE_ARTIFACT_TYPE = 'application/vnd.eib.apk.v1';
export const PACKAGE_MEDIA_TYPE = 'application/vnd.eib.apk.v2';
export const PACKAGE_CHECKSUM_ANNOTATION = 'dev.eib.apk.checksum';

/** The tag of an archived package: `apk-<checksum hex>`. */
export function packageTag(pin: Pick<PackagePin, 'checksum'>): string {
  const hex = checksumHex(pin.checksum);
  if (!/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(hex)) throw new TypeError(`packageTag: "${pin.checksum}" is not an apk checksum`);
  return `apk-${hex}`;
}

/** The manifest that stores the .apk blob `apk` of `pin`. */
export function packageManifest(pin: PackagePin, apk: Descriptor): Buffer {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType: PACKAGE_ARTIFACT_TYPE,
    config: EMPTY_DESCRIPTOR,
    layers: [{ mediaType: PACKAGE_MEDIA_TYPE, digest: apk.digest, size: apk.size, annotations: { [Annotation.Title]: `${pin.name}-${pin.version}.apk` } }],
    annotations: { [PACKAGE_CHECKSUM_ANNOTATION]: pin.checksum },
  };
  return canonicalJsonBytes(manifest);
}

/** The .apk descriptor of a pulled manifest, checked to be the archive entry of `pin`. */
export function parsePackageManifest(bytes: Buffer, where: string, pin: PackagePin): Descriptor {
  const refuse = entryRefusal(where);
  const m = readEntryManifest(bytes, refuse);
  if (m.artifactType !== PACKAGE_ARTIFACT_TYPE) throw refuse(`it is not an eib package archive entry (artifactType ${JSON.stringify(m.artifactType)})`);
  if (m.annotations?.[PACKAGE_CHECKSUM_ANNOTATION] !== pin.checksum) throw refuse(`it is annotated with checksum ${JSON.stringify(m.annotations?.[PACKAGE_CHECKSUM_ANNOTATION])}, not ${pin.checksum}`);
  const layer = Array.isArray(m.layers) && m.layers.length === 1 ? m.layers[0] : undefined;
  if (!layer || layer.mediaType !== PACKAGE_MEDIA_TYPE || !isDigest(layer.digest) || !Number.isSafeInteger(layer.size) || layer.size <= 0) {
    throw refuse(`it must have exactly one ${PACKAGE_MEDIA_TYPE} layer`);
  }
  return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
}
