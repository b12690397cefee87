/**
 * Runs qemu-system and watches it: the serial console goes to a log file
 * (qemu's own chardev logfile, so it is complete even if eib dies), and
 * in test mode also through eib, which looks for the test init's markers.
 *
 * The machine never outlives eib: qemu is started through
 * `setpriv --pdeathsig KILL`, so the kernel kills it when eib goes away
 * for any reason (SIGKILL included); a timeout, SIGINT or SIGTERM kill it
 * at once, and eib waits for it to be gone before returning.
 */
import { spawn } from 'node:child_process';
import { findTool } from '../fs/tool.js';
import { HostError } from '../errors.js';
import { BootError } from './errors.js';
import { markers } from './test-init.js';

export interface RunMachineOptions {
  /** qemu-system binary (absolute). */
  qemu: string;
  /** Everything but the console. */
  args: string[];
  /** Descriptors passed as fd 3, 4, … (see PassedFiles). */
  fds: number[];
  /** The console log file. */
  log: string;
  /** Interactive: the terminal is the console (Ctrl-A X leaves); else test mode. */
  interactive: boolean;
  /** Test mode: the nonce of the init's markers. */
  nonce?: string;
  /** Test mode: milliseconds before the machine is stopped. */
  timeoutMs?: number;
  /** Test mode: console lines between the markers (the test's output). */
  onTestOutput?: (line: string) => void;
}

export interface MachineOutcome {
  /** The test's exit code, when the init reported it. */
  testExit?: number;
  /** Milliseconds from starting qemu to the test init running. */
  bootMs?: number;
  /** Milliseconds qemu ran. */
  runMs: number;
  timedOut: boolean;
  /** The signal that made eib stop the machine. */
  interrupted?: 'SIGINT' | 'SIGTERM' | 'SIGHUP';
  qemuExit: number | null;
  /** The last console lines (for error messages). */
  tail: string[];
  /** What qemu printed on stderr. */
  stderr: string;
}

/** After the exit marker, how long the machine may take to power off. */
const POWEROFF_GRACE_MS = 10_000;
const TAIL_LINES = 15;

/** qemu's option syntax doubles commas inside a value. */
function optionValue(v: string): string {
  return v.replaceAll(',', ',,');
}

export async function runMachine(o: RunMachineOptions): Promise<MachineOutcome> {
  const setpriv = findTool('setpriv');
  if (setpriv === undefined) throw new HostError('setpriv was not found on PATH; install util-linux (Debian/Ubuntu: apt install util-linux)');
  const consoleArgs = o.interactive
    ? ['-chardev', `stdio,id=con,mux=on,signal=off,logfile=${optionValue(o.log)}`, '-serial', 'chardev:con', '-mon', 'chardev=con,mode=readline']
    : ['-chardev', `stdio,id=con,signal=off,logfile=${optionValue(o.log)}`, '-serial', 'chardev:con'];
  const argv = ['--pdeathsig', 'KILL', '--', o.qemu, ...o.args, ...consoleArgs];
  const start = Date.now();
  const child = spawn(setpriv, argv, { stdio: [o.interactive ? 'inherit' : 'pipe', o.interactive ? 'inherit' : 'pipe', 'pipe', ...o.fds] });

  const outcome: MachineOutcome = { runMs: 0, timedOut: false, qemuExit: null, tail: [], stderr: '' };
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (outcome.stderr += d).length > 64_000 && (outcome.stderr = outcome.stderr.slice(-32_000)));
  const kill = (): void => void child.kill('SIGKILL');

  let graceTimer: NodeJS.Timeout | undefined;
  if (!o.interactive && child.stdout) {
    const m = markers(o.nonce ?? '');
    let started = false;
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).replace(/\r$/, '');
        pending = pending.slice(nl + 1);
        outcome.tail.push(line);
        if (outcome.tail.length > TAIL_LINES) outcome.tail.shift();
        if (line.trim() === m.started) {
          started = true;
          outcome.bootMs = Date.now() - start;
          continue;
        }
        const exit = m.exit.exec(line);
        if (exit) {
          outcome.testExit = Number(exit[1]);
          started = false;
          graceTimer = setTimeout(kill, POWEROFF_GRACE_MS);
          continue;
        }
        if (started) o.onTestOutput?.(line);
      }
    });
  }

  const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => {
    if (outcome.testExit !== undefined) return;
    outcome.timedOut = true;
    kill();
  }, o.timeoutMs);
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const onSignal = (sig: (typeof signals)[number]): void => {
    // In interactive mode Ctrl-C belongs to the guest (the terminal is raw); a SIGINT from elsewhere still stops it.
    outcome.interrupted ??= sig;
    kill();
  };
  const handlers = signals.map((sig) => [sig, () => onSignal(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);

  try {
    outcome.qemuExit = await new Promise<number | null>((resolve, reject) => {
      child.on('error', (e) => reject(new BootError('EQEMU', `could not start ${o.qemu}: ${e.message}`, { cause: e })));
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : null)));
    });
  } finally {
    if (timer) clearTimeout(timer);
    if (graceTimer) clearTimeout(graceTimer);
    for (const [sig, h] of handlers) process.off(sig, h);
    if (child.exitCode === null && child.signalCode === null) kill();
  }
  outcome.runMs = Date.now() - start;
  return outcome;
}
