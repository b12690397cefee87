/**
 * The SPDX document of one built image: its packages come from the
 * lib/apk/db/installed that the image's merged root filesystem holds, read
 * from the layers; its time and namespace come from the image, so the same
 * image always gives the same document.
 */
import { readFile } from 'node:fs/promises';
import { parseInstalled, DB_PATHS, type InstalledPackage } from '../apk/database.js';
import { loadKeys } from '../apk/keys.js';
import { openRepository, packageUrl } from '../apk/repository.js';
import type { BuiltImage } from '../store/built-image.js';
import type { AlpineArch, Config } from '../config/types.js';
import { digestHex } from '../oci/digest.js';
import { rfc3339 } from '../oci/image.js';
import { ociPlatform } from '../oci/platform.js';
import { Annotation } from '../oci/types.js';
import { readImageFile, type ImageLayer, type LayerVerdictCache } from './image-file.js';
import { LayerVerdictFiles } from './layer-verdicts.js';
import { spdxDocument } from './spdx.js';
import type { SpdxDocument } from './types.js';

export interface ImageSbomOptions {
  onWarning?: (message: string) => void;
}

export interface InstalledDb {
  packages: InstalledPackage[];
  /** Set when the final image has no database and the packages are those an earlier stage left. */
  note?: string;
}

let toolVersion: Promise<string> | undefined;

/** "Tool: eib-<version>" from eib's package.json. */
async function eibCreator(): Promise<string> {
  toolVersion ??= readFile(new URL('../../../package.json', import.meta.url), 'utf8')
    .then((t) => String((JSON.parse(t) as { version?: unknown }).version ?? 'unknown'))
    .catch(() => 'unknown');
  return `Tool: eib-${await toolVersion}`;
}

function imageLayers(image: BuiltImage): ImageLayer[] {
  return image.manifest.layers.map((l) => ({
    name: `layer ${l.digest}${l.annotations?.[Annotation.Stage] ? ` (stage ${l.annotations[Annotation.Stage]})` : ''}`,
    mediaType: l.mediaType,
    digest: l.digest,
    open: () => image.layout.blobs.open(l.digest),
  }));
}

/**
 * The installed database of the image. When a stage removed it (pruning
 * /lib/apk is common on devices), the packages are those of the database as
 * the stage below left it, and `note` says so.
 */
export async function installedDatabase(image: BuiltImage, cache?: LayerVerdictCache): Promise<InstalledDb> {
  const layers = imageLayers(image);
  const stageOf = (i: number): string => image.manifest.layers[i]?.annotations?.[Annotation.Stage] ?? `layer ${i + 1}`;
  let lookup = await readImageFile(layers, DB_PATHS.installed, layers.length - 1, cache);
  let note: string | undefined;
  if (lookup.kind === 'removed') {
    const removedBy = lookup.layer;
    lookup = await readImageFile(layers, DB_PATHS.installed, removedBy - 1, cache);
    note = `/${DB_PATHS.installed} was removed by stage ${stageOf(removedBy)}; the packages listed are those installed when stage ${lookup.kind === 'found' ? stageOf(lookup.layer) : '(none)'} ended`;
  }
  if (lookup.kind !== 'found') {
    return { packages: [], note: note ?? `the image has no /${DB_PATHS.installed}: no apk package is installed` };
  }
  const packages = parseInstalled(lookup.content.toString('utf8'));
  return note === undefined ? { packages } : { packages, note };
}

/** Download URLs of the packages found in the configured remote repositories (cached indexes only; local paths are no download location). */
async function downloadLocations(config: Config, arch: AlpineArch, packages: readonly InstalledPackage[], options: ImageSbomOptions): Promise<Map<string, string>> {
  const wanted = new Set(packages.map((p) => p.checksum));
  const locations = new Map<string, string>();
  const remote = config.alpine.repositories.filter((url) => /^https?:\/\//.test(url));
  if (remote.length === 0 || wanted.size === 0) return locations;
  let keys;
  try {
    keys = loadKeys([...config.alpine.keys]);
  } catch (e) {
    options.onWarning?.(`SBOM download locations left as NOASSERTION: ${(e as Error).message}`);
    return locations;
  }
  for (const url of remote) {
    try {
      const repo = await openRepository({ url, arch, keys, cacheDir: config.cache.dir, allowUntrusted: config.alpine.allowUntrusted, offline: true });
      for (const p of repo.packages) {
        if (wanted.has(p.checksum) && !locations.has(p.checksum)) locations.set(p.checksum, packageUrl(repo, p));
      }
    } catch (e) {
      options.onWarning?.(`SBOM download locations from ${url} left as NOASSERTION: ${(e as Error).message}`);
    }
  }
  return locations;
}

/** The SPDX document of `image`, the build of `config` for `arch`. */
export async function imageSbom(config: Config, arch: AlpineArch, image: BuiltImage, options: ImageSbomOptions = {}): Promise<SpdxDocument> {
  const db = await installedDatabase(image, new LayerVerdictFiles(config.cache.dir));
  const digest = image.manifestDescriptor.digest;
  const created = config.epoch !== undefined ? rfc3339(config.epoch) : (image.config.created ?? rfc3339(0));
  return spdxDocument({
    name: config.name,
    arch,
    packages: db.packages,
    created,
    namespace: `https://spdx.org/spdxdocs/eib/${encodeURIComponent(config.name)}-${arch}-${digestHex(digest)}`,
    image: { digest, platform: ociPlatform(arch) },
    downloadLocations: await downloadLocations(config, arch, db.packages, options),
    creators: [await eibCreator()],
    ...(db.note === undefined ? {} : { comment: db.note }),
  });
}
