/**
 * `eib push` without the CLI: which image (outputs.oci, outputs.tag) and
 * its referrers (the SBOMs the build attached), where to (the REF argument,
 * else registry.ref) and with which transport options (registry.insecure /
 * registry.ca apply to the configured registry's host).
 */
import { UsageError } from '../errors.js';
import type { Config } from '../config/types.js';
import type { Digest } from '../oci/types.js';
import { RegistryClient } from './client.js';
import { layoutSource } from './image-source.js';
import { pushImage, type TransferOptions, type TransferProgress, type TransferResult } from './push.js';
import { parseReference, type Reference } from './reference.js';
import { layoutReferrers, listReferrers } from './referrers.js';
import { formatBytes } from '../fs/byte-size.js';

export interface PushConfigOptions {
  /** The REF argument; default config.registry.ref. */
  readonly ref?: string | undefined;
  readonly onProgress?: (event: TransferProgress) => void;
  /** Aborting it stops the push at once: open uploads are dropped (the registry discards them) and the promise rejects with the reason. */
  readonly signal?: AbortSignal;
}

/** A referrer the registry lists for a pushed manifest. */
export interface ListedReferrer {
  readonly digest: Digest;
  /** Absent only for an index without one. */
  readonly artifactType?: string;
  /** The pushed manifest it refers to. */
  readonly subject: Digest;
}

export interface PushedImage extends TransferResult {
  /** What the registry lists for the pushed manifests, read back after the push. */
  readonly referrers: readonly ListedReferrer[];
}

export async function pushConfiguredImage(config: Config, options: PushConfigOptions = {}): Promise<PushedImage> {
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
  const client = new RegistryClient(ref.registry, transport);
  options.signal?.throwIfAborted();
  // Uploads are not tied to the signal one by one: on abort the client is closed, which ends
  // every open request, and the race rejects at once. The tag is written last, so an aborted
  // push leaves at most unreferenced blobs that the next push finds and does not send again.
  let stop: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    if (options.signal === undefined) return;
    stop = () => reject(options.signal!.reason);
    options.signal.addEventListener('abort', stop, { once: true });
  });
  try {
    return await Promise.race([pushAndList(config, ref, transport, client), aborted]);
  } finally {
    if (stop !== undefined) options.signal?.removeEventListener('abort', stop);
    client.close();
  }
}

async function pushAndList(config: Config, ref: Reference, transport: TransferOptions, client: RegistryClient): Promise<PushedImage> {
  const pushed = await pushImage(layoutSource(config.outputs.oci, config.outputs.tag), ref, { ...transport, client, referrers: layoutReferrers(config.outputs.oci) });
  const referrers: ListedReferrer[] = [];
  for (const subject of pushed.manifests) {
    for (const d of (await listReferrers(client, ref.repository, subject.digest)).manifests) {
      referrers.push({ digest: d.digest, ...(d.artifactType === undefined ? {} : { artifactType: d.artifactType }), subject: subject.digest });
    }
  }
  return { digest: pushed.digest, ref: pushed.ref, referrers };
}

/** One human line per blob event worth printing (none for byte counts). */
export function describeProgress(event: TransferProgress): string | undefined {
  const short = event.digest.slice(0, 19);
  const size = formatBytes(event.total);
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
