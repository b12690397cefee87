/**
 * The benchmark harness's model: a scenario prepares its inputs once, then
 * each contender runs a warm-up and N timed runs (interleaved between
 * contenders, so drift in a shared machine's load hits both sides alike).
 * eib's contenders run in a child process so their peak RSS is their own:
 * the library-level ones through child.ts, the CLI ones as the unprivileged
 * user under /usr/bin/time.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asUser, testUser } from '../test/helpers/user.js';

export interface BenchContext {
  /** Scratch space for this scenario (kept between runs of the harness for cached inputs). */
  workDir: string;
}

export interface RunResult {
  /** Peak resident set of the measured process, KiB, when known. */
  maxRssKiB?: number;
}

export interface Contender {
  name: string;
  /** 'eib' rows are compared against the scenario's 'baseline' row. */
  role: 'eib' | 'baseline';
  /** Untimed preparation before each run (e.g. editing a script). */
  before?(ctx: BenchContext): Promise<void>;
  run(ctx: BenchContext): Promise<RunResult>;
  /** Untimed cleanup after each run. */
  after?(ctx: BenchContext): Promise<void>;
}

export interface Scenario {
  name: string;
  description: string;
  setup(ctx: BenchContext): Promise<void>;
  contenders: Contender[];
  /** Timed runs per contender when fewer than the harness default suit it (large inputs). */
  maxRuns?: number;
  /** Untimed, after the last run (stop servers). */
  teardown?(ctx: BenchContext): Promise<void>;
}

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const CHILD = join(BENCH_DIR, 'child.js');
/** The eib CLI as users run it. */
export const EIB_BIN = join(BENCH_DIR, '..', '..', 'bin', 'run.js');

/** Run one eib operation (see child.ts) in a fresh Node process; returns its peak RSS. */
export function runEibChild(op: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, op, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bench child ${op} exited ${code}`));
      const last = out.trim().split('\n').at(-1) ?? '{}';
      resolve(JSON.parse(last) as RunResult);
    });
  });
}

function timeV(argv: string[], cwd: string | undefined, what: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-v', ...argv], { stdio: ['ignore', 'ignore', 'pipe'], ...(cwd === undefined ? {} : { cwd }) });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${what} failed (${code})\n${err.slice(-3000)}`));
      // GNU time reports the largest ru_maxrss of the process tree it waited for.
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
      resolve(m ? { maxRssKiB: Number(m[1]) } : {});
    });
  });
}

/** Run a shell pipeline under /usr/bin/time -v; returns the peak RSS of its largest process. */
export function runShell(script: string): Promise<RunResult> {
  return timeV(['sh', '-c', script], undefined, `baseline: ${script}`);
}

const NAMESPACE = ['unshare', '--user', '--map-auto', '--map-root-user', '--mount', '--pid', '--fork'];

/**
 * Run a shell script as the unprivileged bench user inside a rootless
 * namespace with its full subordinate id range (root inside), the way a
 * user does the manual work without sudo; arguments follow as $1….
 */
export function runInNamespace(script: string, args: string[] = []): Promise<RunResult> {
  return timeV([...asUser(), ...NAMESPACE, 'sh', '-c', script, 'sh', ...args], undefined, `namespaced script: ${script.slice(0, 200)}`);
}

/** Environment of an eib CLI run: clean, with the cache in the project. */
function eibEnv(cwd: string, extra: Record<string, string>): string[] {
  const user = testUser();
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: user.home,
    USER: user.name,
    NO_COLOR: '1',
    XDG_CACHE_HOME: join(cwd, '.cache'),
    ...extra,
  };
  return ['env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
}

/** `eib ARGS…` in `cwd` as the unprivileged user; returns the peak RSS of its largest process. */
export function runEibCli(cwd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return timeV([...asUser(), ...eibEnv(cwd, env), process.execPath, EIB_BIN, ...args], cwd, `eib ${args.join(' ')} in ${cwd}`);
}

/**
 * Remove a tree the bench user made inside a namespace: its files may
 * belong to subordinate ids, which only root (or the namespace) can unlink.
 */
export async function removeTree(path: string): Promise<void> {
  if (process.getuid?.() === 0) {
    await rm(path, { recursive: true, force: true });
    return;
  }
  await runInNamespace('rm -rf "$1"', [path]);
}
