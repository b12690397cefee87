/**
 * What a pull accepts from a registry before following it: an image
 * manifest or an index (OCI, or Docker schema 2), whose descriptors are
 * well formed. Anything else — an HTML page typed as JSON, a Docker schema 1
 * manifest, an artifact, a manifest without layers, a digest that is a
 * path — is refused here, before any blob is requested or written. No I/O.
 */
import { isDigest } from '../oci/digest.js';
import { MediaType, type Descriptor, type ImageIndex, type ImageManifest } from '../oci/types.js';
import { RegistryError } from './errors.js';

const IMAGE_TYPES: ReadonlySet<string> = new Set([MediaType.ImageManifest, MediaType.DockerManifest]);
const INDEX_TYPES: ReadonlySet<string> = new Set([MediaType.ImageIndex, MediaType.DockerManifestList]);

export type PulledManifest = { kind: 'image'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

/**
 * Check a fetched manifest; `where` names it for messages
 * ("host/repo:tag" or "host/repo@sha256:…").
 */
export function parsePulledManifest(bytes: Buffer, mediaType: string, where: string): PulledManifest {
  const malformed = (why: string): RegistryError =>
    new RegistryError('EREGISTRY', `${where}: the manifest is malformed: ${why}; check the reference, or ask whoever publishes the image`);
  if (!IMAGE_TYPES.has(mediaType) && !INDEX_TYPES.has(mediaType)) {
    throw new RegistryError(
      'EREGISTRY',
      `${where}: the registry sent a ${mediaType || 'manifest without a media type'}, not an image manifest or index eib reads (OCI, or Docker schema 2); check the reference`,
    );
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw malformed('it is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || parsed['schemaVersion'] !== 2) throw malformed('schemaVersion is not 2');
  if (INDEX_TYPES.has(mediaType)) {
    checkDescriptors(parsed['manifests'], 'manifests', malformed);
    return { kind: 'index', index: parsed as unknown as ImageIndex };
  }
  if (!isDescriptor(parsed['config'])) throw malformed('its config is not a descriptor');
  checkDescriptors(parsed['layers'], 'layers', malformed);
  return { kind: 'image', manifest: parsed as unknown as ImageManifest };
}

function checkDescriptors(list: unknown, field: string, malformed: (why: string) => RegistryError): void {
  if (!Array.isArray(list)) throw malformed(`${field} is not a list`);
  list.forEach((d: unknown, i) => {
    if (!isDescriptor(d)) throw malformed(`${field}[${i}] is not a descriptor with a sha256 digest and a size`);
  });
}

function isDescriptor(d: unknown): d is Descriptor {
  if (d === null || typeof d !== 'object') return false;
  const { mediaType, digest, size } = d as Partial<Descriptor>;
  return typeof mediaType === 'string' && isDigest(digest) && Number.isSafeInteger(size) && (size as number) >= 0;
}
