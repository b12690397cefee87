/**
 * Content digests (image-spec descriptor.md#digests). eib only produces
 * sha256; other registered algorithms are accepted when parsing so that
 * errors can name them precisely.
 */
import { createHash } from 'node:crypto';
import { EibError } from '../errors.js';
import type { Digest } from './types.js';

export class DigestError extends EibError<'EDIGEST'> {
  constructor(message: string) {
    super('EDIGEST', message);
  }
}

/** descriptor.md: algorithm ":" encoded, with the grammar's character sets. */
const DIGEST_GRAMMAR = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;

export interface ParsedDigest {
  algorithm: 'sha256';
  hex: string;
}

/** Parse a `sha256:<64 lowercase hex>` digest; anything else is an EDIGEST error. */
export function parseDigest(value: string): ParsedDigest {
  const m = DIGEST_GRAMMAR.exec(value);
  if (!m) throw new DigestError(`"${value}" is not a digest: expected "sha256:" followed by 64 lowercase hex characters`);
  const [, algorithm, encoded] = m as unknown as [string, string, string];
  if (algorithm !== 'sha256') {
    throw new DigestError(`digest "${value}" uses algorithm "${algorithm}": only sha256 is supported`);
  }
  if (!SHA256_HEX.test(encoded)) {
    throw new DigestError(`digest "${value}" is malformed: a sha256 digest has exactly 64 lowercase hex characters`);
  }
  return { algorithm, hex: encoded };
}

export function isDigest(value: unknown): value is Digest {
  if (typeof value !== 'string') return false;
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** The value itself, typed, after validation. */
export function toDigest(value: string): Digest {
  parseDigest(value);
  return value as Digest;
}

export function digestHex(digest: Digest): string {
  return parseDigest(digest).hex;
}

export function sha256Digest(hex: string): Digest {
  return toDigest(`sha256:${hex}`);
}

/** sha256 of bytes in memory (small documents only: manifests, configs). */
export function digestOf(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
