import { EibError } from '../errors.js';

export type StoreErrorCode = 'EBLOBMISSING' | 'ELAYOUT' | 'ETAGMISSING' | 'ECACHEDAMAGED';

/** A blob store or OCI layout that lacks something or is malformed. */
export class StoreError extends EibError<StoreErrorCode> {
  constructor(code: StoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** The command that drops damaged cache entries (and layout blobs) so the next build redoes them. */
export const REPAIR_ADVICE = 'run `eib cache verify` to drop what is damaged, then `eib build`';

/** A file of the cache (or of an OCI layout eib wrote) whose content is not what it claims: never reused. */
export class CacheDamagedError extends StoreError {
  /** The damaged file and what is wrong with it. */
  readonly path: string;
  readonly problem: string;

  constructor(path: string, problem: string, options: { cause?: unknown } = {}) {
    super('ECACHEDAMAGED', `${path} ${problem}: it is damaged; ${REPAIR_ADVICE}`, options);
    this.path = path;
    this.problem = problem;
  }
}

export function cacheDamaged(path: string, problem: string, cause?: unknown): CacheDamagedError {
  return new CacheDamagedError(path, problem, cause === undefined ? {} : { cause });
}
