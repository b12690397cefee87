/** The demo project (fixtures/demo) as the tests build it: a copy the test user owns. */
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, SHARED_ALPINE, testUser, userTempDir } from './user.js';

/** fixtures/demo (or another fixture) copied into a fresh folder of the test user, its repository paths absolute, `edit` applied to its YAML files. */
export function demoProject(edit: (yaml: string) => string = (y) => y, prefix = 'eib-demo-', fixture = 'demo'): string {
  const dir = userTempDir(prefix);
  cpSync(join(REPO_ROOT, 'fixtures', fixture), dir, { recursive: true });
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
    const yaml = readFileSync(join(dir, name), 'utf8').replaceAll('../../../shared/alpine', SHARED_ALPINE);
    writeFileSync(join(dir, name), edit(yaml));
  }
  const user = testUser();
  if (!user.self) execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  return dir;
}

/** Resolves once a file named `name` exists below `dir` (e.g. a marker a stage script touched). */
export async function waitForFile(dir: string, name: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    let found = '';
    try {
      found = execFileSync('find', [dir, '-name', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      // the folder may not exist yet
    }
    if (found !== '') return;
    if (Date.now() > deadline) throw new Error(`${name} never appeared below ${dir}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
