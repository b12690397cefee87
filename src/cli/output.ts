/**
 * How commands talk to the user: messages go to stderr (so stdout stays
 * clean for --json and for data), quiet/verbose filter them, NO_COLOR and
 * non-TTY streams turn colour off.
 */
export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
}

export class Output {
  readonly options: OutputOptions;
  readonly color: boolean;
  readonly tty: boolean;

  constructor(options: OutputOptions, stderr: NodeJS.WriteStream = process.stderr) {
    this.options = options;
    this.tty = Boolean(stderr.isTTY);
    this.color = this.tty && !('NO_COLOR' in process.env && process.env['NO_COLOR'] !== '');
  }

  /** Progress and status lines; silenced by --quiet. */
  info(message: string): void {
    if (!this.options.quiet) process.stderr.write(`${message}\n`);
  }

  /** Details only shown with --verbose. */
  debug(message: string): void {
    if (this.options.verbose) process.stderr.write(`${this.dim(message)}\n`);
  }

  warn(message: string): void {
    process.stderr.write(`${this.paint('33', 'warning:')} ${message}\n`);
  }

  error(message: string): void {
    process.stderr.write(`${this.paint('31', 'error:')} ${message}\n`);
  }

  /** The command's result on stdout: JSON with --json, else the text form. */
  result(value: unknown, text?: string): void {
    if (this.options.json) {
      process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    } else if (text !== undefined) {
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  dim(s: string): string {
    return this.paint('2', s);
  }

  paint(code: string, s: string): string {
    return this.color ? `\u001b[${code}m${s}\u001b[0m` : s;
  }
}
