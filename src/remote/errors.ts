/** Errors of talking to a registry. Messages never carry a secret. */
import { EibError } from '../errors.js';

export type RegistryErrorCode =
  /** The registry answered with an unexpected status. */
  | 'EREGISTRY'
  /** Missing, refused or insufficient credentials. */
  | 'EAUTH'
  /** The TLS certificate could not be verified. */
  | 'ETLS'
  /** Plain http to a registry that is not local and not marked insecure. */
  | 'EINSECURE'
  /** The connection failed or dropped, after the retries. */
  | 'ENETWORK'
  /** The manifest or blob does not exist. */
  | 'ENOTFOUND';

export class RegistryError extends EibError<RegistryErrorCode> {
  /** HTTP status when the registry answered. */
  readonly status: number | undefined;
  /** distribution-spec error codes from the body (BLOB_UNKNOWN, DENIED, …). */
  readonly registryCodes: readonly string[];

  constructor(code: RegistryErrorCode, message: string, options: { cause?: unknown; status?: number; registryCodes?: readonly string[] } = {}) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause });
    this.status = options.status;
    this.registryCodes = options.registryCodes ?? [];
  }
}
