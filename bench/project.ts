/**
 * Bench inputs the unprivileged user works on: eib projects (an eib.yaml
 * and its files) and the real apk-tools of the Alpine minirootfs, unpacked
 * once per arch and owned by that user.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { asUser, testUser } from '../test/helpers/user.js';

/** Give `path` (recursively) to the bench user when we run as root. */
export function giveToUser(path: string): void {
  const user = testUser();
  if (!user.self) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, path]);
}

/** Write the files of a project (paths relative to `dir`) and hand it to the bench user. */
export async function writeProject(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  giveToUser(dir);
}

/** Run argv as the bench user (outside any namespace). */
export function asBenchUser(argv: string[]): void {
  const cmd = [...asUser(), ...argv];
  execFileSync(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The Alpine minirootfs of `arch`, unpacked by the bench user under `dir` (once). */
export async function ensureMinirootfs(tarball: string, dir: string): Promise<string> {
  const marker = join(dir, '.unpacked');
  if (existsSync(marker)) return dir;
  await mkdir(dir, { recursive: true });
  giveToUser(dir);
  asBenchUser(['tar', 'xzf', tarball, '-C', dir]);
  asBenchUser(['touch', marker]);
  return dir;
}
