/** `eib size`: the size of the last build's rootfs for one arch, up to a stage. */
import type { AlpineArch, Config } from '../config/types.js';
import { selectImage } from '../export/select.js';
import { rootfsSize, type ImageSize } from './size.js';

export async function imageSize(config: Config, options: { arch?: AlpineArch; stage?: string; top?: number } = {}): Promise<ImageSize> {
  const image = await selectImage(config, options);
  const openers = image.layers.map((l) => () => image.layout.blobs.open(l.digest));
  return { arch: image.arch, stage: image.stage, ...(await rootfsSize(openers, { names: image.names, top: options.top ?? 10 })) };
}
