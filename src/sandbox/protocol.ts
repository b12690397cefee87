/**
 * What runInNamespace and the entry script exchange over fd 3 (a socket
 * pair): one JSON line with the task; back, any number of progress lines
 * and then one JSON line with the outcome.
 * The task's own stdout/stderr stay free for script output.
 */
import type { IdMapKind } from './idmap.js';

/** The fd the channel occupies in the entry process. */
export const CHANNEL_FD = 3;

export interface TaskSpec {
  /** Absolute file URL of an ES module. */
  module: string;
  /** Name of an exported async function (payload, ctx) => result. */
  fn: string;
  /** JSON-serializable input. */
  payload: unknown;
}

export interface TaskMessage extends TaskSpec {
  idMap: IdMapKind;
}

/** An error as it crosses the namespace boundary. */
export interface SerializedError {
  name: string;
  code?: string;
  message: string;
  exitCode?: number;
  stack?: string;
}

export type OutcomeMessage = { ok: true; value?: unknown } | { ok: false; error: SerializedError };

/** A progress event a task reports while it runs (JSON). */
export interface ProgressMessage {
  progress: unknown;
}

/** What a task function receives besides its payload. */
export interface TaskContext {
  /** How ids are mapped in this namespace (single: only root exists). */
  idMap: IdMapKind;
  /** Aborted when the entry is asked to stop (SIGTERM or SIGHUP). */
  signal: AbortSignal;
  /** Report progress to eib outside the namespace (NamespaceOptions.onProgress). */
  progress(event: unknown): void;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const { code, exitCode } = e as { code?: unknown; exitCode?: unknown };
    return {
      name: e.name,
      message: e.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof exitCode === 'number' ? { exitCode } : {}),
      ...(e.stack === undefined ? {} : { stack: e.stack }),
    };
  }
  return { name: 'Error', message: String(e) };
}
