/**
 * `eib push` without the CLI: which image (outputs.oci, outputs.tag), where
 * to (the REF argument, else registry.ref) and with which transport options
 * (registry.insecure / registry.ca apply to the configured registry's host).
 */
import { UsageError } from '../errors.js';
import type { Config } from '../config/types.js';
import { layoutSource } from './image-source.js';
import { pushImage, type TransferOptions, type TransferProgress, type TransferResult } from './push.js';
import { parseReference } from './reference.js';

export interface PushConfigOptions {
  /** The REF argument; default config.registry.ref. */
  readonly ref?: string | undefined;
  readonly onProgress?: (event: TransferProgress) => void;
}

export async function pushConfiguredImage(config: Config, options: PushConfigOptions = {}): Promise<TransferResult> {
  const text = options.ref ?? config.registry?.ref;
  if (text === undefined) {
    throw new UsageError(`no registry to push to: give one (eib push host[:port]/repository[:tag]) or set registry.ref in ${config.file}`);
  }
  const ref = parseReference(text);
  const configured = config.registry ? parseReference(config.registry.ref).registry : undefined;
  const transport: TransferOptions = {
    ...(configured === ref.registry && config.registry?.insecure ? { insecure: true } : {}),
    ...(configured === ref.registry && config.registry?.ca !== undefined ? { ca: config.registry.ca } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  return pushImage(layoutSource(config.outputs.oci, config.outputs.tag), ref, transport);
}

/** One human line per blob event worth printing (none for byte counts). */
export function describeProgress(event: TransferProgress): string | undefined {
  const short = event.digest.slice(0, 19);
  const size = event.total >= 1 << 20 ? `${(event.total / (1 << 20)).toFixed(1)} MiB` : `${(event.total / 1024).toFixed(1)} KiB`;
  switch (event.state) {
    case 'exists':
      return `${short} already in the registry`;
    case 'mounted':
      return `${short} mounted from another repository`;
    case 'uploaded':
      return `${short} pushed (${size})`;
    case 'downloaded':
      return `${short} pulled (${size})`;
    default:
      return undefined;
  }
}
