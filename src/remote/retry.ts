/**
 * The one retry rule of eib's network code. What is retried: dropped or
 * refused connections, 5xx (but 501/505) and 429 answers, upload sessions
 * the registry lost. How often: one budget per operation (a request, a blob
 * push with its upload session and chunks, an index download), shared by
 * every level that retries, so nested loops never multiply; a request that
 * got no answer at all (silence past the HTTP layer's bound) is retried
 * once at most, so an unresponsive server fails within a known time. With
 * what backoff: exponential with jitter from `delayMs`, or the server's
 * Retry-After, capped at `maxDelayMs`; waits longer than a few seconds are
 * announced.
 */
import { RegistryError } from './errors.js';

export interface RetryPolicy {
  /** Attempts per operation, the first included (default 5). */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles per attempt (default 500 ms). */
  readonly retryDelayMs?: number;
  /** Longest wait honoured from Retry-After or backoff (default 30 s). */
  readonly maxRetryDelayMs?: number;
}

/** What went wrong with one attempt: an error, or an answer with this status. */
export type Failure = { readonly error: unknown } | { readonly status: number; readonly retryAfter?: string | undefined; readonly from: string };

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);
/** distribution-spec codes for an upload session the registry no longer has: start a new one. */
const LOST_SESSION = new Set(['BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN']);
/** Waits at least this long are announced. */
const ANNOUNCE_MS = 3_000;

export function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Marks an error as "the server said nothing for the whole bound" (set by the HTTP layer). */
export const SILENCE = Symbol('eib.silence');

export function isSilence(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { [SILENCE]?: boolean })[SILENCE] === true;
}

/** A dropped, refused or silent connection: worth another attempt. */
export function isRetryableNetworkError(e: unknown): boolean {
  if (e instanceof RegistryError) return e.code === 'ENETWORK' && e.cause !== undefined && isRetryableNetworkError(e.cause);
  if ((e as { local?: boolean })?.local === true) return false;
  const code = errorCode(e);
  return (code !== undefined && NETWORK_CODES.has(code)) || /socket hang up|aborted/i.test((e as Error)?.message ?? '');
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** Whether a failure may succeed on another attempt. */
export function isRetryable(failure: Failure): boolean {
  if ('status' in failure) return isRetryableStatus(failure.status);
  const e = failure.error;
  if (e instanceof RegistryError) {
    if (e.registryCodes.some((c) => LOST_SESSION.has(c))) return true;
    // A chunk out of order: the caller asks where the upload stands and resumes.
    if (e.status === 416) return true;
    if (e.status !== undefined) return isRetryableStatus(e.status);
  }
  return isRetryableNetworkError(e);
}

/** Retry-After: delta-seconds or an HTTP date. */
export function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The attempts left to one operation. Every level that retries asks the
 * same budget, so an operation is tried at most `maxAttempts` times in all.
 */
export class RetryBudget {
  private attempts = 1;
  private silences = 0;
  private readonly policy: RetryPolicy;
  private readonly what: string;
  private readonly onWaiting: ((message: string) => void) | undefined;

  constructor(policy: RetryPolicy, what: string, onWaiting?: (message: string) => void) {
    this.policy = policy;
    this.what = what;
    this.onWaiting = onWaiting;
  }

  get max(): number {
    return Math.max(1, this.policy.maxAttempts ?? 5);
  }

  /**
   * After a failed attempt: false when it must not be retried (not
   * retryable, or the budget is spent); else waits the backoff and
   * returns true.
   */
  async again(failure: Failure): Promise<boolean> {
    if (!isRetryable(failure) || this.attempts >= this.max) return false;
    if ('error' in failure && isSilence(failure.error) && ++this.silences > 1) return false;
    const delay = this.delay(this.attempts, 'status' in failure ? retryAfterMs(failure.retryAfter) : undefined);
    this.attempts++;
    if (delay >= ANNOUNCE_MS) {
      const why = 'status' in failure ? `${failure.from} answered ${failure.status}` : ((failure.error as Error)?.message ?? String(failure.error));
      this.onWaiting?.(`${this.what}: ${why}; trying again in ${Math.round(delay / 1000)} s (attempt ${this.attempts} of ${this.max})`);
    }
    await sleep(delay);
    return true;
  }

  /** Backoff before attempt `attempt + 1`: Retry-After when given, else exponential with jitter. */
  delay(attempt: number, retryAfter?: number): number {
    const cap = this.policy.maxRetryDelayMs ?? 30_000;
    if (retryAfter !== undefined) return Math.min(cap, retryAfter);
    const base = (this.policy.retryDelayMs ?? 500) * 2 ** (attempt - 1);
    return Math.min(cap, base / 2 + Math.random() * (base / 2));
  }
}
