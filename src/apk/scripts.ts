/**
 * Install scripts and triggers, run the way apk-tools 2.14 runs them: the
 * script is written to lib/apk/exec/<name>-<version>.<script> inside the
 * root, executed in the chroot with the version (or, for a trigger, the
 * matched directories) as arguments and an environment holding only PATH,
 * then removed. A failure is reported with apk's wording.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ScriptName } from './package-file.js';

export interface ScriptRequest {
  /** The root directory on the host side. */
  root: string;
  /** Absolute path of the script inside the root. */
  script: string;
  /** Arguments after argv[0]. */
  args: string[];
  env: Record<string, string>;
}

export interface ScriptResult {
  code: number;
  output: string;
}

/** Runs a script inside the root (production: the sandbox's chroot runner, emulated when foreign). */
export type ScriptRunner = (request: ScriptRequest) => Promise<ScriptResult>;

/** apk-tools runs scripts with this environment and nothing of the caller's. */
export const SCRIPT_ENV: Readonly<Record<string, string>> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

export const SCRIPT_EXEC_DIR = 'lib/apk/exec';

export interface ScriptOutcome {
  ok: boolean;
  /** apk's error line when the script failed: "<name>-<version>.<script>: script exited with error N". */
  error?: string;
  output: string;
}

export async function runScript(options: {
  root: string;
  pkg: { name: string; version: string };
  script: ScriptName;
  body: Buffer;
  args: string[];
  runScript: ScriptRunner;
}): Promise<ScriptOutcome> {
  const label = `${options.pkg.name}-${options.pkg.version}.${options.script}`;
  const dir = join(options.root, SCRIPT_EXEC_DIR);
  // As apk-tools: parents 0755, the scripts' directory itself 0700.
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  // A random suffix keeps a script from clobbering a file a package might ship there.
  const name = `${label}.${randomBytes(4).toString('hex')}`;
  const hostPath = join(dir, name);
  await writeFile(hostPath, options.body, { mode: 0o755, flag: 'wx' });
  await chmod(hostPath, 0o755);
  try {
    const result = await options.runScript({
      root: options.root,
      script: `/${SCRIPT_EXEC_DIR}/${name}`,
      args: options.args,
      env: { ...SCRIPT_ENV },
    });
    if (result.code === 0) return { ok: true, output: result.output };
    const error = result.code < 0 ? `${label}: failed to execute` : `${label}: script exited with error ${result.code}`;
    return { ok: false, error, output: result.output };
  } finally {
    await unlink(hostPath).catch(() => undefined);
  }
}
