/**
 * ext4 export, host side: check the tools and options, pick the image's
 * identity (label, UUID, directory hash seed), and run the work inside the
 * user namespace (ext4-task.ts). With an epoch and no --uuid, the UUID and
 * hash seed are derived from the image's manifest digest, so the same image
 * always gives the same bytes and different images different UUIDs.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';
import type { Digest } from '../oci/types.js';
import { runInNamespace } from '../sandbox/namespace.js';
import { e2fsTool } from './e2fs-tools.js';
import type { Ext4TaskPayload, Ext4TaskResult } from './ext4-task.js';
import { exportWorkDirs } from './work-dir.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface Ext4Options {
  size?: number;
  label?: string;
  uuid?: string;
  epoch?: number;
  /** eib's cache folder: the tree is unpacked below its tmp/. */
  cacheDir: string;
  signal?: AbortSignal;
}

export function checkLabel(label: string): string {
  if (Buffer.byteLength(label) > 16) throw new UsageError(`ext4 label "${label}" is longer than 16 bytes, the most ext4 can hold`);
  if (/[\0\n]/.test(label)) throw new UsageError('ext4 label may not contain a NUL or a line break');
  return label;
}

export function checkUuid(uuid: string): string {
  if (!UUID.test(uuid)) throw new UsageError(`"${uuid}" is not a UUID: give one like 3f2b6c1e-8d4a-4c7e-9b1a-2e5f6d7c8b9a (uuidgen makes one)`);
  return uuid.toLowerCase();
}

/** A UUID (version 8, RFC 9562) from a hash of `parts`. */
export function derivedUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\0')).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface WrittenExt4 extends Ext4TaskResult {
  label?: string;
  uuid?: string;
}

export async function writeExt4(layoutDir: string, manifest: Digest, layers: { digests: Digest[]; names: string[] }, image: string, options: Ext4Options): Promise<WrittenExt4> {
  for (const tool of ['mke2fs', 'debugfs', 'dumpe2fs'] as const) e2fsTool(tool);
  const label = options.label === undefined ? undefined : checkLabel(options.label);
  let uuid = options.uuid === undefined ? undefined : checkUuid(options.uuid);
  if (uuid === undefined && options.epoch !== undefined) uuid = derivedUuid(manifest, 'ext4 uuid');
  const hashSeed = uuid === undefined ? undefined : derivedUuid(manifest, uuid, 'ext4 hash seed');

  const payload: Ext4TaskPayload = {
    layoutDir,
    layers: layers.digests,
    names: layers.names,
    ...(await exportWorkDirs(options.cacheDir)),
    image,
    ...(options.size === undefined ? {} : { size: options.size }),
    ...(label === undefined ? {} : { label }),
    ...(uuid === undefined ? {} : { uuid }),
    ...(hashSeed === undefined ? {} : { hashSeed }),
    ...(options.epoch === undefined ? {} : { epoch: options.epoch }),
  };
  const { exportExt4Task } = await import('./ext4-task.js');
  const made = await runInNamespace(exportExt4Task, payload, options.signal === undefined ? {} : { signal: options.signal });
  return { ...made, ...(label === undefined ? {} : { label }), ...(uuid === undefined ? {} : { uuid }) };
}
