/** Errors about one package being read, verified or installed. */
import { EibError, IntegrityError } from '../errors.js';
import { GzipError } from './gzip-members.js';
import { SignatureError } from './signature.js';

export type ApkPackageErrorCode =
  | 'EINTEGRITY' // a checksum differs from what the index, .PKGINFO or the tar promises
  | 'ESIGNATURE' // no signature by a trusted key, or a bad one
  | 'EBADSIZE' // the .apk's size differs from the index's S:
  | 'ETOOLARGE' // a member inflates past its bound (decompression bomb)
  | 'ETRUNCATED' // the file ends early
  | 'EBADAPK' // not a well-formed apk v2 (gzip, tar or .PKGINFO structure)
  | 'EUNSAFE' // an entry would write outside the root or is a kind eib refuses
  | 'EFILECONFLICT' // two packages own the same file and `replaces` does not settle it
  | 'ESCRIPT'; // an install script or trigger failed and scripts are fatal

export class ApkPackageError extends EibError<ApkPackageErrorCode> {
  /** "name-version" of the package. */
  readonly package: string;

  constructor(code: ApkPackageErrorCode, pkg: string, reason: string, options: { cause?: unknown } = {}) {
    super(code, `${pkg}: ${reason}`, options);
    this.package = pkg;
  }
}

/** Two packages ship the same path. */
export class FileConflictError extends ApkPackageError {
  readonly path: string;
  readonly owners: readonly string[];

  constructor(pkg: string, path: string, owners: readonly string[]) {
    super(
      'EFILECONFLICT',
      pkg,
      `trying to overwrite /${path} owned by ${owners.join(', ')}; remove one of the packages, or add a "replaces" to the new one`,
    );
    this.path = path;
    this.owners = owners;
  }
}

const CORRUPT_PACKAGE: ReadonlySet<string> = new Set(['EINTEGRITY', 'ESIGNATURE', 'EBADSIZE', 'ETOOLARGE', 'ETRUNCATED', 'EBADAPK']);

/** Whether a package file itself is bad (so a cached copy must not be reused), as opposed to what it asks to install. */
export function isCorruptPackage(e: unknown): boolean {
  return (e instanceof ApkPackageError && CORRUPT_PACKAGE.has(e.code)) || e instanceof IntegrityError || e instanceof SignatureError || e instanceof GzipError;
}
