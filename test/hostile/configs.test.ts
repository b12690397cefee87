/**
 * Hostile configs: the valid configs of fixtures/configs mutated at random
 * (seeded: delete, duplicate, retype and rename keys, unicode, truncation,
 * indentation, random bytes, stray YAML syntax), plus hand-made YAML bombs.
 * Whatever the damage, eib loads the file or answers with
 * `eib.yaml:LINE:COL: message` lines (a clear one-line message otherwise)
 * and exit code 2: never a stack trace, never an uncaught error. Most run
 * through loadConfig in-process; a sample through `eib config` as the
 * unprivileged user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, EibError } from '../../src/errors.js';
import { loadConfig } from '../../src/config/index.js';
import { runEib } from '../helpers/cli.js';
import { REPO_ROOT, userTempDir } from '../helpers/user.js';
import { chownToUser } from './project.js';
import { mutate, SPECIAL_CASES } from './mutate.js';

const FIXTURES = join(REPO_ROOT, 'fixtures', 'configs');
const CONFIGS = ['minimal.yaml', 'design-example.yaml', 'full.yaml', 'multi-arch.yaml'];
const SEEDS_PER_CONFIG = 80;
/** A pathological input may be slow to reject, but not this slow. */
// A guard against hangs (alias and nesting bombs), not a speed target: generous for loaded CI machines.
const MAX_MS = 20_000;

/** A folder beside which the fixture's relative paths (repo, keys, scripts…) resolve. */
function caseDir(): string {
  const dir = userTempDir('eib-fuzz-');
  for (const name of ['certs', 'kernel', 'keys', 'overlay', 'repo', 'scripts']) symlinkSync(join(FIXTURES, name), join(dir, name));
  mkdirSync(join(dir, '.cache'));
  chownToUser(dir);
  return dir;
}

interface Verdict {
  /** Why this outcome is not acceptable, or undefined when it is. */
  problem: string | undefined;
  rejected: boolean;
}

async function judge(dir: string, text: string): Promise<Verdict> {
  const problem = await problemOf(dir, text);
  return { problem: problem === 'loaded' ? undefined : problem, rejected: problem !== 'loaded' };
}

async function problemOf(dir: string, text: string): Promise<string | undefined> {
  writeFileSync(join(dir, 'eib.yaml'), text);
  const lineCount = text.split(/\r\n|\r|\n/).length;
  const started = Date.now();
  let error: unknown;
  try {
    await loadConfig({ cwd: dir, env: { HOME: dir, XDG_CACHE_HOME: join(dir, '.cache') } });
  } catch (e) {
    error = e;
  }
  const took = Date.now() - started;
  if (took > MAX_MS) return `took ${took} ms`;
  if (error === undefined) return 'loaded';
  if (!(error instanceof EibError)) return `uncaught ${(error as Error).constructor?.name}: ${(error as Error).message}`;
  if (error.exitCode !== 2) return `exit code ${error.exitCode}: ${error.message}`;
  if (!(error instanceof ConfigError)) return /\n/.test(error.message) ? `a multi-line ${error.code}: ${error.message}` : undefined;
  if (error.diagnostics.length === 0) return 'a ConfigError without diagnostics';
  for (const d of error.diagnostics) {
    if (d.file !== 'eib.yaml') return `diagnostic names ${d.file}`;
    if (!(d.line >= 1 && d.line <= lineCount + 1 && d.column >= 1)) return `position ${d.line}:${d.column} outside the file (${lineCount} lines): ${d.message}`;
    if (d.message.trim() === '' || /[\n\r]/.test(d.message)) return `an empty or multi-line message: ${JSON.stringify(d.message)}`;
  }
  return undefined;
}

interface Outcome {
  seed: number;
  kind: string;
  problem: string | undefined;
  rejected: boolean;
}

const rejectedSamples: { label: string; text: string }[] = [];

for (const name of CONFIGS) {
  test(`${SEEDS_PER_CONFIG} seeded mutations of ${name}: loaded, or eib.yaml:LINE:COL lines and exit 2`, async () => {
    const valid = readFileSync(join(FIXTURES, name), 'utf8');
    const dir = caseDir();
    assert.deepEqual(await judge(dir, valid), { problem: undefined, rejected: false }, 'the unmutated fixture loads');
    const outcomes: Outcome[] = [];
    for (let i = 0; i < SEEDS_PER_CONFIG; i++) {
      const seed = CONFIGS.indexOf(name) * 1000 + i;
      const m = mutate(valid, seed);
      const { problem, rejected } = await judge(dir, m.text);
      outcomes.push({ seed, kind: m.kind, problem, rejected });
      if (rejected && rejectedSamples.filter((s) => s.label.startsWith(name)).length < 4) rejectedSamples.push({ label: `${name} seed ${seed} (${m.kind})`, text: m.text });
    }
    const bad = outcomes.filter((o) => o.problem !== undefined).map((o) => `seed ${o.seed} (${o.kind}): ${o.problem}`);
    assert.deepEqual(bad, []);
    // The mutations must actually hurt: most are rejected.
    assert.ok(outcomes.filter((o) => o.rejected).length > SEEDS_PER_CONFIG / 3, 'most mutations are rejected');
  });
}

for (const c of SPECIAL_CASES) {
  test(`hostile YAML: ${c.name}`, async () => {
    const valid = readFileSync(join(FIXTURES, 'minimal.yaml'), 'utf8');
    const text = c.text(valid);
    assert.equal((await judge(caseDir(), text)).problem, undefined);
    if (['billion laughs (alias expansion)', 'deeply nested flow sequences', 'a NUL byte file', 'a key that is a mapping'].includes(c.name)) {
      rejectedSamples.push({ label: c.name, text });
    }
  });
}

test('a sample through the real CLI: exit 2, error lines only, no stack trace', async () => {
  assert.ok(rejectedSamples.length >= 16, `${rejectedSamples.length} samples`);
  // The hand-made ones first, then the mutations, 20 in all.
  const samples = [...rejectedSamples.filter((s) => !s.label.includes(' seed ')), ...rejectedSamples.filter((s) => s.label.includes(' seed '))].slice(0, 20);
  const failures: string[] = [];
  // Four at a time: each is a node start as the test user.
  for (let i = 0; i < samples.length; i += 4) {
    await Promise.all(
      samples.slice(i, i + 4).map(async (s) => {
        const dir = caseDir();
        writeFileSync(join(dir, 'eib.yaml'), s.text);
        chownToUser(join(dir, 'eib.yaml'));
        const r = await runEib(['config'], { cwd: dir, timeoutMs: 60_000 });
        const lines = r.stderr.split('\n').filter(Boolean);
        const errors = lines.filter((l) => l.startsWith('error: '));
        if (r.code !== 2) failures.push(`${s.label}: exit ${r.code}\n${r.stderr}`);
        else if (/\n\s+at /.test(`\n${r.stderr}`)) failures.push(`${s.label}: stack trace\n${r.stderr}`);
        else if (errors.length === 0) failures.push(`${s.label}: no error line\n${r.stderr}`);
        else if (!errors.every((l) => /^error: eib\.yaml:\d+:\d+: \S/.test(l) || !l.includes('eib.yaml:'))) failures.push(`${s.label}: malformed error line\n${r.stderr}`);
        else if (r.stdout !== '') failures.push(`${s.label}: output on stdout`);
        else if (/Warning:/.test(r.stderr)) failures.push(`${s.label}: a process warning\n${r.stderr}`);
      }),
    );
  }
  assert.deepEqual(failures, []);
});
