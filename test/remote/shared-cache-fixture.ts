/**
 * Shared-cache test plumbing: the Config the cache reads, and running
 * shared-cache-driver.js as the unprivileged test user.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Config } from '../../src/config/types.js';
import { asUser, REPO_ROOT } from '../helpers/user.js';

export interface CacheTarget {
  cacheDir: string;
  /** host:port/repository */
  registry: string;
}

/** A configuration whose only meaningful parts are cache.dir and cache.registry. */
export function configFor(target: CacheTarget): Config {
  return {
    file: '/nonexistent/eib.yaml',
    dir: '/nonexistent',
    name: 'shared-cache-test',
    arch: ['aarch64'],
    alpine: { repositories: [], keys: [], allowUntrusted: false, scriptsFatal: false, imageRepositories: [] },
    stages: [],
    outputs: { oci: '/nonexistent/oci', tag: 'latest' },
    cache: { dir: target.cacheDir, registry: target.registry },
  };
}

export interface DriverOutcome<T> {
  value?: T;
  error?: { name: string; code: string; message: string };
  warnings: string[];
}

const DRIVER = join(REPO_ROOT, 'dist', 'test', 'remote', 'shared-cache-driver.js');

/** Run one driver operation as the test user. */
export function drive<T>(op: string, payload: unknown): DriverOutcome<T> {
  const argv = [...asUser(), process.execPath, DRIVER, op, JSON.stringify(payload)];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as DriverOutcome<T>;
  } catch {
    throw new Error(`shared-cache driver ${op} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  }
}

/** The value of a driver operation that must succeed. */
export function driveOk<T>(op: string, payload: unknown): T {
  const out = drive<T>(op, payload);
  if (out.error) throw new Error(`shared-cache driver ${op} failed: ${out.error.code}: ${out.error.message}`);
  return out.value as T;
}
