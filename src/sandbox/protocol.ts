/**
 * What runInNamespace and the entry script exchange over fd 3 (a socket
 * pair): one JSON line with the task; back, any number of progress lines
 * and then one JSON line with the outcome.
 * The task's own stdout/stderr stay free for script output.
 */
import type { IdMapKind } from './idmap.js';

/** The fd the channel occupies in the entry process. */
export const CHANNEL_FD = 3;

/** The task to run (a NamespaceTask handle, see task.ts, named by module and name) and its input. */
export interface TaskMessage {
  /** Absolute file URL of the ES module that exports the task. */
  module: string;
  /** The task's name (NamespaceTask.name). */
  name: string;
  /** JSON-serializable input. */
  payload: unknown;
  idMap: IdMapKind;
}

/** An error as it crosses the namespace boundary. */
export interface SerializedError {
  name: string;
  code?: string;
  message: string;
  exitCode?: number;
  stack?: string;
  /** The error's own data fields (a registry status, config diagnostics), as JSON. */
  fields?: Record<string, unknown>;
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
    const fields = dataFields(e);
    return {
      name: e.name,
      message: e.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof exitCode === 'number' ? { exitCode } : {}),
      ...(e.stack === undefined ? {} : { stack: e.stack }),
      ...(fields === undefined ? {} : { fields }),
    };
  }
  return { name: 'Error', message: String(e) };
}

/** Own enumerable fields besides those every error has, if they survive JSON. */
function dataFields(e: Error): Record<string, unknown> | undefined {
  const own = Object.entries(e).filter(([k]) => !['name', 'message', 'stack', 'cause', 'code', 'exitCode'].includes(k));
  if (own.length === 0) return undefined;
  try {
    return JSON.parse(JSON.stringify(Object.fromEntries(own))) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
