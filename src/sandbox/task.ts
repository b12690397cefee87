/**
 * Typed namespace tasks. A task is a handle its module exports, made with
 * `namespaceTask`: the caller passes the handle itself to runInNamespace,
 * so the compiler checks which task runs and what payload and result it
 * has; inside the namespace the entry finds the same handle among the
 * module's exports by its name. The error classes a task lists cross the
 * namespace as themselves (`instanceof` works outside), with their code,
 * exit code and data fields.
 */
import { EibError, HostError, IntegrityError, ToolError, UsageError } from '../errors.js';
import { SandboxError } from './errors.js';
import type { TaskContext } from './protocol.js';

/** Any EibError subclass, whatever its constructor takes. */
export type EibErrorClass = abstract new (...args: never[]) => EibError;

export interface NamespaceTask<Payload, Result> {
  /** File URL of the module that exports this handle (its import.meta.url). */
  readonly module: string;
  /** Unique among the module's tasks; the entry looks the handle up by it. */
  readonly name: string;
  readonly run: (payload: Payload, ctx: TaskContext) => Promise<Result>;
  /** Error classes the task throws that callers tell apart by class. */
  readonly errors: readonly EibErrorClass[];
}

/**
 * Declare a task. The handle must be exported from `module`; payload and
 * result cross the namespace as JSON, so they must be plain data.
 */
export function namespaceTask<Payload, Result>(
  module: string,
  name: string,
  run: (payload: Payload, ctx: TaskContext) => Promise<Result>,
  options: { errors?: readonly EibErrorClass[] } = {},
): NamespaceTask<Payload, Result> {
  return { module, name, run, errors: options.errors ?? [] };
}

export function isNamespaceTask(value: unknown): value is NamespaceTask<unknown, unknown> {
  const t = value as Partial<NamespaceTask<unknown, unknown>> | null;
  return typeof t === 'object' && t !== null && typeof t.module === 'string' && typeof t.name === 'string' && typeof t.run === 'function' && Array.isArray(t.errors);
}

/** The task called `name` among a module's exports. */
export function findTask(exports: Record<string, unknown>, module: string, name: string): NamespaceTask<unknown, unknown> {
  const found = Object.values(exports).filter((v): v is NamespaceTask<unknown, unknown> => isNamespaceTask(v) && v.module === module && v.name === name);
  if (found.length !== 1) throw new TypeError(`${module} exports ${found.length === 0 ? 'no' : 'more than one'} namespace task named ${name}`);
  return found[0]!;
}

/** Classes every task may throw without listing them. */
export const SHARED_ERROR_CLASSES: readonly EibErrorClass[] = [SandboxError, HostError, UsageError, IntegrityError, ToolError];
