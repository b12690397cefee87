/**
 * Run as the test user: writes the SBOM tests' two-arch image into a
 * project's OCI layout the way src/pipeline/image.ts writes a build (stage
 * records and cache keys in the manifest, an index with a platform per
 * manifest, tagged): x86_64 from tasks.ts (three stages, the real apk-tools
 * deleting a package), aarch64 from the Alpine minirootfs tarball used
 * as-is as a single gzip layer.
 *
 *   node make-image.js PROJECT_DIR X86_64_TARBALL AARCH64_TARBALL REMOVE
 * Prints {"apkInfo": [...], "manifests": {"x86_64": digest, "aarch64": digest}}.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { STAGES_ANNOTATION } from '../../src/store/built-image.js';
import type { AlpineArch } from '../../src/config/types.js';
import { loadConfig } from '../../src/config/load.js';
import { buildImageConfig, rfc3339, stageLayers, type StageRecord } from '../../src/oci/image.js';
import { ociPlatform } from '../../src/oci/platform.js';
import { Annotation, MediaType, type Descriptor, type Digest, type ImageIndex } from '../../src/oci/types.js';
import { runInNamespace } from '../../src/sandbox/namespace.js';
import { OciLayout } from '../../src/store/layout.js';
import type { ImagePayload, MadeLayer } from './tasks.js';
import { makeLayersTask } from './tasks.js';

const [dir, x86Tarball, armTarball, remove] = process.argv.slice(2) as [string, string, string, string];
const config = await loadConfig({ path: join(dir, 'eib.yaml'), cwd: dir });
const layout = await OciLayout.create(config.outputs.oci);
const epoch = config.epoch ?? 1_700_000_000;

async function tarballLayer(tarball: string): Promise<MadeLayer> {
  const blob = await layout.blobs.put(createReadStream(tarball));
  const hash = createHash('sha256');
  await pipeline(createReadStream(tarball), createGunzip(), hash);
  return { name: 'base', descriptor: { mediaType: MediaType.LayerGzip, ...blob }, diffId: `sha256:${hash.digest('hex')}` };
}

async function writeArch(arch: AlpineArch, layers: MadeLayer[]): Promise<Descriptor> {
  const records: StageRecord[] = layers.map((l) => ({
    name: l.name,
    createdBy: `eib stage ${l.name}`,
    created: rfc3339(epoch),
    layer: { descriptor: { ...(l.descriptor as Descriptor), annotations: { [Annotation.CacheKey]: `key-${arch}-${l.name}` } }, diffId: l.diffId as Digest },
  }));
  const written = await layout.writeImage({
    config: buildImageConfig({ arch, stages: records, created: rfc3339(epoch) }),
    layers: stageLayers(records),
    annotations: { [STAGES_ANNOTATION]: JSON.stringify(layers.map((l) => ({ name: l.name, key: `key-${arch}-${l.name}` }))), [Annotation.Title]: config.name },
  });
  return { ...written.manifest, platform: ociPlatform(arch) };
}

const payload: ImagePayload = { tarball: x86Tarball, work: join(dir, 'work'), layoutDir: layout.dir, epoch, remove };
const x86 = await runInNamespace(makeLayersTask, payload);
const manifests = [await writeArch('aarch64', [await tarballLayer(armTarball)]), await writeArch('x86_64', x86.layers)];
const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests, annotations: { [Annotation.Title]: config.name } };
await layout.setTag(config.outputs.tag, await layout.blobs.putJson(index, MediaType.ImageIndex));
process.stdout.write(`${JSON.stringify({ apkInfo: x86.apkInfo, manifests: { aarch64: manifests[0]!.digest, x86_64: manifests[1]!.digest } })}\n`);
