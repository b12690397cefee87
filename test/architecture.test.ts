/**
 * The layering README's architecture section describes: every folder of
 * src/ is named there and every folder named exists; nothing below the
 * runner imports it; src/fs and src/config import no domain module.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { REPO_ROOT } from './helpers/user.js';

const SRC = join(REPO_ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : name.endsWith('.ts') ? [p] : [];
  });
}

/** The src/ folder each relative import of `file` lands in ("" for src/ itself). */
function importedFolders(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => relative(SRC, resolve(dirname(file), s)).split('/').slice(0, -1)[0] ?? '');
}

test('README.org names every folder of src/ in its architecture section, and only folders that exist', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.org'), 'utf8');
  const start = readme.indexOf('\n* Architecture\n');
  assert.ok(start >= 0, 'README.org has a "* Architecture" section');
  const section = readme.slice(start, readme.indexOf('\n* ', start + 1));
  const named = new Set([...section.matchAll(/=src\/([a-z-]+)\/=/g)].map((m) => m[1]!));
  const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory());
  assert.deepEqual([...named].filter((n) => !folders.includes(n)), [], 'named but missing');
  assert.deepEqual(folders.filter((n) => !named.has(n)), [], 'folders the section does not name');
});

test('no folder below the runner imports src/pipeline; src/fs and src/config import no domain folder', () => {
  const above = new Set(['pipeline', 'commands', 'cli']);
  const offenders: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const folder = relative(SRC, file).split('/')[0]!;
    const imports = importedFolders(file);
    if (!above.has(folder) && imports.includes('pipeline')) offenders.push(`${relative(REPO_ROOT, file)} imports src/pipeline`);
    if (folder === 'fs' || folder === 'config') {
      for (const f of imports.filter((i) => i !== folder && i !== '' && !(folder === 'config' && i === 'fs'))) offenders.push(`${relative(REPO_ROOT, file)} imports src/${f}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('the bundle can load every namespace task: src/cli/task-modules.ts lists each module that declares one, and the CLI lists each command', async () => {
  const declaring = sourceFiles(SRC)
    .filter((f) => /namespaceTask\(import\.meta\.url/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(REPO_ROOT, f).replace(/\.ts$/, '.js'))
    .sort();
  const { TASK_MODULES } = await import('../src/cli/task-modules.js');
  assert.deepEqual(Object.keys(TASK_MODULES).sort(), declaring);
  for (const [path, load] of Object.entries(TASK_MODULES)) {
    const exports = await load();
    assert.ok(Object.values(exports).some((v) => typeof v === 'object' && v !== null && 'module' in v && String((v as { module: unknown }).module).endsWith(`/dist/${path}`)), `${path} loads the module that declares its tasks`);
  }
  const commandFiles = sourceFiles(join(SRC, 'commands')).map((f) => relative(join(SRC, 'commands'), f).replace(/\.ts$/, '').replace('/', ':')).sort();
  const { COMMANDS } = await import('../src/cli/commands.js');
  assert.deepEqual(Object.keys(COMMANDS).sort(), commandFiles);
});
