/**
 * The images `eib diff` compares, named the way users name them:
 *
 *   TAG                 a tag of the project's layout (outputs.oci), like
 *                       "latest" or "latest.previous"
 *   oci:DIR[:TAG]       a tag of another OCI layout (default outputs.tag)
 *   host[:port]/repo[:tag|@digest]   an image in a registry
 *
 * Each opens to the manifest of one arch, its stages (from eib's
 * annotations, when eib built it) and a way to read its layer blobs.
 */
import type { Readable } from 'node:stream';
import type { AlpineArch, Config } from '../config/types.js';
import { EibError, UsageError } from '../errors.js';
import { ociPlatform } from '../oci/platform.js';
import { Annotation, MediaType, type Descriptor, type ImageIndex, type ImageManifest } from '../oci/types.js';
import { STAGES_ANNOTATION } from '../store/built-image.js';
import { OciLayout } from '../store/layout.js';
import { resolve } from 'node:path';

export interface OpenedImage {
  /** How messages name it. */
  label: string;
  manifest: Descriptor;
  /** The stages eib recorded, with their layers (null: the stage changed nothing); undefined for images eib did not build. */
  stages: { name: string; layer: Descriptor | null }[] | undefined;
  /** Layer blobs, bottom first. */
  layers: Descriptor[];
  open(layer: Descriptor): Promise<Readable>;
  close(): void;
}

/** Reads manifests and blobs of one image, wherever it is. */
interface Reader {
  label: string;
  /** The tagged manifest or index. */
  root(): Promise<{ descriptor: Descriptor; json: ImageManifest | ImageIndex }>;
  manifest(d: Descriptor): Promise<ImageManifest>;
  open(layer: Descriptor): Promise<Readable>;
  close(): void;
}

function isRegistryRef(spec: string): boolean {
  const slash = spec.indexOf('/');
  return slash > 0 && !spec.startsWith('oci:') && !spec.startsWith('.') && !spec.startsWith('/');
}

async function layoutReader(dir: string, tag: string, label: string): Promise<Reader> {
  let layout: OciLayout;
  let descriptor: Descriptor;
  try {
    layout = await OciLayout.open(dir);
    descriptor = await layout.resolve(tag);
  } catch (e) {
    throw new EibError('ENOIMAGE', `${label}: no image tagged ${tag} in ${dir}${e instanceof Error ? ` (${e.message})` : ''}`, { cause: e, exitCode: 2 });
  }
  return {
    label,
    root: async () => ({ descriptor, json: await layout.blobs.readJson<ImageManifest | ImageIndex>(descriptor.digest) }),
    manifest: (d) => layout.readManifest(d),
    open: async (layer) => layout.blobs.open(layer.digest),
    close: () => undefined,
  };
}

async function registryReader(spec: string, config: Config): Promise<Reader> {
  const { parseReference } = await import('../remote/reference.js');
  const { RegistryClient } = await import('../remote/client.js');
  const { parsePulledManifest } = await import('../remote/pulled-manifest.js');
  const ref = parseReference(spec);
  const configured = config.registry ? parseReference(config.registry.ref).registry : undefined;
  const same = configured === ref.registry;
  const client = new RegistryClient(ref.registry, {
    ...(same && config.registry?.insecure ? { insecure: true } : {}),
    ...(same && config.registry?.ca !== undefined ? { ca: config.registry.ca } : {}),
  });
  const get = async (reference: string): Promise<{ descriptor: Descriptor; json: ImageManifest | ImageIndex }> => {
    const fetched = await client.getManifest(ref.repository, reference);
    const parsed = parsePulledManifest(fetched.bytes, fetched.mediaType, `${ref.registry}/${ref.repository}@${fetched.digest}`);
    return { descriptor: { mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.bytes.length }, json: parsed.kind === 'image' ? parsed.manifest : parsed.index };
  };
  return {
    label: spec,
    root: () => get(ref.digest ?? ref.tag ?? 'latest'),
    manifest: async (d) => (await get(d.digest)).json as ImageManifest,
    open: (layer) => client.fetchBlob(ref.repository, layer.digest, layer.size),
    close: () => client.close(),
  };
}

async function readerFor(spec: string, config: Config): Promise<Reader> {
  if (spec.startsWith('oci:')) {
    const rest = spec.slice(4);
    const colon = rest.lastIndexOf(':');
    const [dir, tag] = colon > 0 ? [rest.slice(0, colon), rest.slice(colon + 1)] : [rest, config.outputs.tag];
    return layoutReader(resolve(dir), tag, spec);
  }
  if (isRegistryRef(spec)) return registryReader(spec, config);
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(spec)) {
    throw new UsageError(`"${spec}" names no image: give a tag of ${config.outputs.oci}, oci:DIR[:TAG], or host[:port]/repository[:tag]`);
  }
  return layoutReader(config.outputs.oci, spec, spec);
}

/** Open `spec` for `arch`. */
export async function openImage(spec: string, config: Config, arch: AlpineArch): Promise<OpenedImage> {
  const reader = await readerFor(spec, config);
  try {
    const root = await reader.root();
    let descriptor = root.descriptor;
    let manifest: ImageManifest;
    if ('manifests' in root.json) {
      const want = ociPlatform(arch);
      const found = root.json.manifests.find((m) => m.platform?.architecture === want.architecture && (m.platform.variant ?? undefined) === (want.variant ?? undefined));
      if (!found) throw new EibError('ENOIMAGE', `${reader.label} has no ${arch} image`, { exitCode: 2 });
      descriptor = found;
      manifest = await reader.manifest(found);
    } else {
      manifest = root.json;
    }
    if (descriptor.mediaType !== MediaType.ImageManifest && descriptor.mediaType !== MediaType.DockerManifest) {
      throw new EibError('ENOIMAGE', `${reader.label} is a ${descriptor.mediaType}, not an image`, { exitCode: 2 });
    }
    const listed = manifest.annotations?.[STAGES_ANNOTATION];
    const byKey = new Map(manifest.layers.map((l) => [l.annotations?.[Annotation.CacheKey], l]));
    const stages = listed === undefined ? undefined : (JSON.parse(listed) as { name: string; key: string }[]).map((s) => ({ name: s.name, layer: byKey.get(s.key) ?? null }));
    return { label: reader.label, manifest: descriptor, stages, layers: manifest.layers, open: (l) => reader.open(l), close: () => reader.close() };
  } catch (e) {
    reader.close();
    throw e;
  }
}
