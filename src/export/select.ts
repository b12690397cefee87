/**
 * Which layers an export flattens: the last build's image for one arch, up
 * to and including a named stage (default: all of them).
 */
import { readBuiltImage, type BuiltImage } from '../store/built-image.js';
import type { AlpineArch, Config } from '../config/types.js';
import { UsageError } from '../errors.js';
import type { Descriptor, Digest } from '../oci/types.js';
import type { OciLayout } from '../store/layout.js';
import { chooseArch } from '../config/choose-arch.js';

export interface SelectedImage {
  layout: OciLayout;
  arch: AlpineArch;
  /** Manifest digest of the built image the layers come from. */
  manifest: Digest;
  /** The stage the export ends with. */
  stage: string;
  /** Gzip layer blobs, bottom first (stages that changed nothing have none). */
  layers: Descriptor[];
  /** A name per layer for error messages: "stage base (sha256:…)". */
  names: string[];
}

/** The layers to export; `built` is the image a build just wrote (else the tagged one is read). */
export async function selectImage(config: Config, options: { arch?: AlpineArch; stage?: string; built?: BuiltImage }): Promise<SelectedImage> {
  const arch = chooseArch(config, options.arch);
  const image = options.built ?? (await readBuiltImage(config, arch));
  const names = image.stages.map((s) => s.name);
  if (names.length === 0) throw new UsageError(`the image in ${config.outputs.oci} records no stages; run eib build`);
  const stage = options.stage ?? names.at(-1)!;
  const end = names.indexOf(stage);
  if (end < 0) {
    const configured = config.stages.some((s) => s.name === stage);
    throw new UsageError(
      configured
        ? `stage "${stage}" is not in the last build (its stages: ${names.join(', ')}); run eib build`
        : `unknown stage "${stage}"; the image's stages are: ${names.join(', ')}`,
    );
  }
  const base = { layout: image.layout, arch, manifest: image.manifestDescriptor.digest, stage };
  if (end === names.length - 1) {
    // The whole image: the manifest's layers are the truth, whatever the stage records say.
    const stageOf = new Map(image.stages.flatMap((s) => (s.layer ? [[s.layer.digest, s.name] as const] : [])));
    const layers = image.manifest.layers;
    return { ...base, layers, names: layers.map((l, i) => `${stageOf.has(l.digest) ? `stage ${stageOf.get(l.digest)!}` : `layer ${i + 1}`} (${l.digest})`) };
  }
  const chosen = image.stages.slice(0, end + 1).filter((s) => s.layer !== null);
  return { ...base, layers: chosen.map((s) => s.layer!), names: chosen.map((s) => `stage ${s.name} (${s.layer!.digest})`) };
}
