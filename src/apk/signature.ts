/**
 * apk v2 signatures. A signed .apk or APKINDEX.tar.gz starts with a gzip
 * member holding a tar of `.SIGN.RSA.<key>` (SHA-1) or `.SIGN.RSA256.<key>`
 * (SHA-256) files, each a PKCS#1 v1.5 RSA signature over the raw compressed
 * bytes of the next gzip member (apk-tools src/package.c). The signed bytes
 * are hashed as they stream; only the digest reaches verifyDigest.
 */
import { constants, createHash, publicDecrypt, type Hash, type KeyObject } from 'node:crypto';
import { EibError } from '../errors.js';

export type SignatureAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface SignatureFile {
  /** The tar entry name, e.g. ".SIGN.RSA.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub". */
  fileName: string;
  algorithm: SignatureAlgorithm;
  /** The key file name it was made with. */
  keyName: string;
  signature: Buffer;
}

export type SignatureFailure = 'unsigned' | 'untrusted' | 'mismatch';

export class SignatureError extends EibError<'ESIGNATURE'> {
  readonly reason: SignatureFailure;
  constructor(reason: SignatureFailure, message: string) {
    super('ESIGNATURE', message);
    this.reason = reason;
  }
}

const PREFIXES: readonly [string, SignatureAlgorithm][] = [
  ['.SIGN.RSA512.', 'sha512'],
  ['.SIGN.RSA256.', 'sha256'],
  ['.SIGN.RSA.', 'sha1'],
];

/** The algorithm and key name of a `.SIGN.*` entry name, or undefined for other names (and DSA). */
export function parseSignatureFileName(fileName: string): { algorithm: SignatureAlgorithm; keyName: string } | undefined {
  for (const [prefix, algorithm] of PREFIXES) {
    if (fileName.startsWith(prefix) && fileName.length > prefix.length && !fileName.includes('/')) {
      return { algorithm, keyName: fileName.slice(prefix.length) };
    }
  }
  return undefined;
}

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1). */
const DIGEST_INFO: Record<SignatureAlgorithm, Buffer> = {
  sha1: Buffer.from('3021300906052b0e03021a05000414', 'hex'),
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

/** Verify an RSA PKCS#1 v1.5 signature against an already computed digest. */
export function verifyDigest(key: KeyObject, algorithm: SignatureAlgorithm, digest: Buffer, signature: Buffer): boolean {
  let decoded: Buffer;
  try {
    decoded = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    return false;
  }
  return decoded.equals(Buffer.concat([DIGEST_INFO[algorithm], digest]));
}

/**
 * The signature apk would check: the first whose key is trusted (apk stops
 * at the first `.SIGN.*` entry it has a key for).
 */
export function selectSignature(files: readonly SignatureFile[], keys: ReadonlyMap<string, KeyObject>): { file: SignatureFile; key: KeyObject } | undefined {
  for (const file of files) {
    const key = keys.get(file.keyName);
    if (key) return { file, key };
  }
  return undefined;
}

/**
 * Checks one signed stream: feed the raw signed bytes to update() as they
 * flow, then call verify(). `what` names the file in error messages.
 */
export class SignedStreamVerifier {
  private readonly chosen: { file: SignatureFile; key: KeyObject } | undefined;
  private readonly hash: Hash | undefined;

  constructor(
    private readonly what: string,
    private readonly files: readonly SignatureFile[],
    keys: ReadonlyMap<string, KeyObject>,
  ) {
    this.chosen = selectSignature(files, keys);
    this.hash = this.chosen ? createHash(this.chosen.file.algorithm) : undefined;
  }

  /** The key the signature is checked with, when one is trusted. */
  get keyName(): string | undefined {
    return this.chosen?.file.keyName;
  }

  update(chunk: Buffer): void {
    this.hash?.update(chunk);
  }

  /** Throws SignatureError when unsigned, signed by no trusted key, or altered. */
  verify(): { keyName: string } {
    if (this.files.length === 0) {
      throw new SignatureError('unsigned', `${this.what}: not signed (no .SIGN.RSA.* entry); it cannot be trusted`);
    }
    if (!this.chosen || !this.hash) {
      const names = this.files.map((f) => f.keyName).join(', ');
      throw new SignatureError('untrusted', `${this.what}: signed by ${names}, which is not among the trusted keys; add that public key to alpine.keys if you trust it`);
    }
    const { file, key } = this.chosen;
    if (!verifyDigest(key, file.algorithm, this.hash.digest(), file.signature)) {
      throw new SignatureError('mismatch', `${this.what}: signature by ${file.keyName} does not match the content; the file was altered or corrupted`);
    }
    return { keyName: file.keyName };
  }
}

/**
 * Read the `.SIGN.*` entries of the signature member's tar (decompressed,
 * small: a few hundred bytes per signature). apk writes this tar without the
 * end-of-archive blocks, so parsing stops at the end of the buffer.
 */
export function readSignatureTar(tar: Buffer): SignatureFile[] {
  const files: SignatureFile[] = [];
  let off = 0;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = cString(header.subarray(0, 100));
    const size = parseInt(cString(header.subarray(124, 136)).trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0) break;
    const body = tar.subarray(off + 512, off + 512 + size);
    const parsed = parseSignatureFileName(name);
    if (parsed && body.length === size) files.push({ fileName: name, ...parsed, signature: Buffer.from(body) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString('utf8');
}
