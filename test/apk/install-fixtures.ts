/** Shared pieces of the install tests: a temp root, a recording script runner, a package shelf. */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installPackages, type InstallOptions } from '../../src/apk/install.js';
import type { ScriptRequest, ScriptRunner } from '../../src/apk/scripts.js';
import type { PackageInfo } from '../../src/apk/types.js';
import { buildApk, generateSigningKey, trustedKeys, type BuildPackage } from '../helpers/apk-builder.js';

export const signingKey = generateSigningKey('eib-install-test.rsa.pub');

export interface RecordedScript extends ScriptRequest {
  body: string;
}

/** A runner that records each request (with the script's content as it was on disk) and exits with `code(request)`. */
export function recordingRunner(code: (r: ScriptRequest) => number = () => 0): { runner: ScriptRunner; calls: RecordedScript[] } {
  const calls: RecordedScript[] = [];
  const runner: ScriptRunner = async (request) => {
    const onDisk = join(request.root, request.script);
    calls.push({ ...request, body: existsSync(onDisk) ? readFileSync(onDisk, 'utf8') : '<missing>' });
    return { code: code(request), output: '' };
  };
  return { runner, calls };
}

/** A directory with `root/` (the rootfs) and `outside/` (canaries that must never change). */
export function workspace(): { dir: string; root: string; outside: string; shelf: string } {
  const dir = mkdtempSync(join(tmpdir(), 'eib-install-'));
  return { dir, root: join(dir, 'root'), outside: join(dir, 'outside'), shelf: join(dir, 'shelf') };
}

export async function shelve(shelf: string, packages: BuildPackage[], key = signingKey): Promise<PackageInfo[]> {
  const infos: PackageInfo[] = [];
  for (const p of packages) infos.push(await buildApk(shelf, p, key));
  return infos;
}

export async function install(
  root: string,
  shelf: string,
  packages: PackageInfo[],
  extra: Partial<InstallOptions> = {},
): ReturnType<typeof installPackages> {
  return installPackages({
    root,
    packages,
    openPackage: async (p) => join(shelf, `${p.name}-${p.version}.apk`),
    keys: trustedKeys(signingKey),
    world: packages.map((p) => p.name),
    repositories: ['/repo/main'],
    arch: 'aarch64',
    runScript: recordingRunner().runner,
    ...extra,
  });
}
