/**
 * The benchmark harness's model: a scenario prepares its inputs once, then
 * each contender runs a warm-up and N timed runs. eib's contenders run in a
 * child process (child.ts) so their peak RSS is their own.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  run(ctx: BenchContext): Promise<RunResult>;
  /** Untimed cleanup after each run. */
  after?(ctx: BenchContext): Promise<void>;
}

export interface Scenario {
  name: string;
  description: string;
  setup(ctx: BenchContext): Promise<void>;
  contenders: Contender[];
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'child.js');

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

/** Run a shell pipeline under /usr/bin/time -v; returns the peak RSS of its largest process. */
export function runShell(script: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-v', 'sh', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`baseline failed (${code}): ${script}\n${err.slice(-2000)}`));
      const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
      resolve(m ? { maxRssKiB: Number(m[1]) } : {});
    });
  });
}
