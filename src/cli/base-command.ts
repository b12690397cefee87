import { Command, Flags, Errors, type Interfaces } from '@oclif/core';
import { EibError, redactCredentials } from '../errors.js';
import { Output } from './output.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;

/**
 * Every eib command extends this: the global flags, an Output, and one place
 * that turns errors into a message and an exit code (0 ok, 1 failure, 2 usage
 * or configuration error) without a stack trace unless --verbose.
 */
export abstract class BaseCommand extends Command {
  static override baseFlags = {
    config: Flags.string({
      summary: 'Path of the configuration file (default: ./eib.yaml, or $EIB_CONFIG).',
      helpGroup: 'GLOBAL',
    }),
    json: Flags.boolean({ summary: 'Print the result as JSON on stdout.', helpGroup: 'GLOBAL', default: false }),
    quiet: Flags.boolean({ char: 'q', summary: 'Print only errors and the result.', helpGroup: 'GLOBAL', default: false }),
    verbose: Flags.boolean({ char: 'v', summary: 'Print details and stack traces.', helpGroup: 'GLOBAL', default: false }),
  };

  protected out: Output = new Output({ json: false, quiet: false, verbose: false });

  /** The signal that interrupted the command, if one did: it exits 130 (SIGINT) or 143 (SIGTERM) once cleaned up. */
  private interruptedBy: 'SIGINT' | 'SIGTERM' | undefined;

  /**
   * An AbortSignal that SIGINT and SIGTERM abort. The command passes it down,
   * the library stops its work and removes what it started, and eib exits
   * 130 or 143 instead of dying in the middle of a write.
   */
  protected interruptSignal(): { signal: AbortSignal; dispose: () => void } {
    const abort = new AbortController();
    const handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => {
      const handler = (): void => {
        this.interruptedBy ??= sig;
        abort.abort(new EibError('EINTERRUPTED', `interrupted by ${sig}`));
      };
      process.on(sig, handler);
      return [sig, handler] as const;
    });
    return { signal: abort.signal, dispose: () => handlers.forEach(([sig, handler]) => process.off(sig, handler)) };
  }

  /** Parse argv and set up output; commands call this first. */
  protected async parseWithOutput<T extends typeof Command>(cmd: T): Promise<Interfaces.ParserOutput<BaseFlags<T>, Interfaces.InferredArgs<T['args']>>> {
    const parsed = (await this.parse(cmd as unknown as typeof BaseCommand)) as unknown as Interfaces.ParserOutput<BaseFlags<T>, Interfaces.InferredArgs<T['args']>>;
    const flags = parsed.flags as { json: boolean; quiet: boolean; verbose: boolean };
    this.out = new Output({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose });
    return parsed;
  }

  /** The configuration path from --config, then $EIB_CONFIG, else undefined (./eib.yaml). */
  protected configPath(flag: string | undefined): string | undefined {
    return flag ?? (process.env['EIB_CONFIG'] || undefined);
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    const verbose = this.out.options.verbose || this.argv.includes('--verbose') || this.argv.includes('-v');
    if (this.interruptedBy !== undefined && !(err instanceof Errors.ExitError)) {
      this.out.error(`interrupted by ${this.interruptedBy}; what was in progress was cleaned up`);
      return this.exit(this.interruptedBy === 'SIGINT' ? 130 : 143);
    }
    if (err instanceof EibError) {
      for (const line of err.lines()) this.out.error(line);
      if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
      return this.exit(err.exitCode);
    }
    // oclif's own exits (this.exit) and parse errors carry their exit code.
    if (err instanceof Errors.ExitError) throw err;
    const oclifExit = (err as { oclif?: { exit?: number } }).oclif?.exit;
    if (err instanceof Errors.CLIError && oclifExit !== undefined) {
      this.out.error(`${err.message.split('\n')[0] ?? err.message} (see eib ${this.id ?? ''} --help)`);
      return this.exit(2);
    }
    this.out.error(redactCredentials(err.message || String(err)));
    if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
    else this.out.info('(run again with --verbose for details)');
    return this.exit(1);
  }
}
