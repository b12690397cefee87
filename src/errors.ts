/**
 * Typed errors shared by every module. Each carries a constant string code
 * (for scripts and tests), the exit code the CLI maps it to, and an optional
 * cause. Messages are written for the user: what failed, on what, what to do.
 */

/** 0 success, 1 build or runtime failure, 2 usage or configuration error. */
export type ExitCode = 1 | 2;

/** `text` without the `user:password@` of any URL in it: no message of eib prints a credential. */
export function redactCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1');
}

export class EibError<C extends string = string> extends Error {
  readonly code: C;
  readonly exitCode: ExitCode;

  constructor(code: C, message: string, options: { cause?: unknown; exitCode?: ExitCode } = {}) {
    super(redactCredentials(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }

  /** Lines printed to stderr for this error; one per problem. */
  lines(): string[] {
    return [this.message];
  }
}

/** A bad command line: unknown flag, missing argument, wrong value. */
export class UsageError extends EibError<'EUSAGE'> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('EUSAGE', message, { ...options, exitCode: 2 });
  }
}

/** A problem found in a configuration file, with its position. */
export interface ConfigDiagnostic {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** Every problem of a configuration file, reported at once. */
export class ConfigError extends EibError<'ECONFIG'> {
  readonly diagnostics: readonly ConfigDiagnostic[];

  constructor(diagnostics: readonly ConfigDiagnostic[]) {
    super('ECONFIG', diagnostics.map(formatDiagnostic).join('\n'), { exitCode: 2 });
    this.diagnostics = diagnostics;
  }

  override lines(): string[] {
    return this.diagnostics.map(formatDiagnostic);
  }
}

export function formatDiagnostic(d: ConfigDiagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.message}`;
}

/** Content whose digest or size does not match what was expected. */
export class IntegrityError extends EibError<'EINTEGRITY' | 'EBADSIZE'> {
  constructor(code: 'EINTEGRITY' | 'EBADSIZE', message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** The host lacks something eib needs; the message names the fix. */
export class HostError extends EibError<'EHOST'> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('EHOST', message, options);
  }
}

/** A host program eib ran (tar, setfattr, mke2fs, …) failed; the message ends with what it printed. */
export class ToolError extends EibError<'ETOOL'> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ETOOL', message, options);
  }
}

export function isEibError(e: unknown): e is EibError {
  return e instanceof EibError;
}

/** Prefix an error with what was being done, keeping its class, code, exit code and fields. */
export function wrapError(doing: string, e: unknown): EibError {
  if (e instanceof EibError) {
    // Same class and data fields, so callers can still tell errors apart with instanceof.
    const wrapped = Reflect.construct(EibError, [e.code, `${doing}: ${e.message}`, { cause: e, exitCode: e.exitCode }], e.constructor) as EibError;
    for (const [k, v] of Object.entries(e)) if (!(k in wrapped)) Object.assign(wrapped, { [k]: v });
    wrapped.name = e.name;
    return wrapped;
  }
  const message = e instanceof Error ? e.message : String(e);
  const code = typeof (e as { code?: unknown })?.code === 'string' ? (e as { code: string }).code : 'EFAIL';
  return new EibError(code, `${doing}: ${message}`, { cause: e });
}
