/**
 * apk-tools' own solver test vectors (../shared/apk-tools-tests, the test/
 * folder of apk-tools 2.14-stable) run through eib's solver: for every
 * vector eib's model can express, the changes eib plans (packages, versions,
 * order, repository tags) or its refusal must be exactly apk's @EXPECT.
 * README.md beside this file lists the vectors that do not apply and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ApkIndexParser } from '../../../src/apk/index-file.js';
import type { Repository } from '../../../src/apk/repository.js';
import { addToWorld } from '../../../src/apk/dependency.js';
import { describeChange, planChanges } from '../../../src/apk/solver.js';
import type { PackageInfo } from '../../../src/apk/types.js';
import { REPO_ROOT } from '../../helpers/user.js';

const VECTORS = resolve(REPO_ROOT, '..', 'shared', 'apk-tools-tests');

/**
 * The installed databases (`*.installed`) are not part of the vectors as
 * shipped. For the `add` vectors that use one, the installed set is what the
 * vector's own expectation pins down (every package apk upgrades, purges or
 * keeps), taken from the repository entries of those versions, in database
 * order; the world's tags say what each was pinned to.
 */
const INSTALLED: Record<string, { repo: string; packages: string[] }> = {
  'basic.installed': { repo: 'basic.repo', packages: ['a-1', 'b-1'] },
  'complicated1.installed': { repo: 'complicated1.repo', packages: ['d-1.0'] },
  'conflict.installed': { repo: 'conflict2.repo', packages: ['foo-1', 'bar-1'] },
  'pinning.installed': { repo: 'pinning-overlay1.repo', packages: ['a-3', 'b-3', 'c-3'] },
  'provides-swap.installed': { repo: 'provides.repo', packages: ['mailreadplus-1'] },
};

/** Applicable vectors where eib does not give the vector's answer yet (README.md says why). */
const KNOWN_DIFFERENCES = ['provides22'];

/** Why a vector does not apply to eib, or undefined when it does. */
function notApplicable(v: Vector): string | undefined {
  if (v.applet !== 'add') return `"apk ${v.applet}": eib stages only add to the world`;
  const flag = v.flags.find((f) => !['--test-repo', '--test-instdb', '--test-world'].includes(f));
  if (flag) return `${flag}: no eib equivalent`;
  if (v.instdb && !INSTALLED[v.instdb]) return `${v.instdb}: installed database not shipped and not implied by the expectation`;
  if (v.expect.some((l) => /^\(\d+\/\d+\) Updating pinning/.test(l))) return 'the change is only the pinning apk records for installed packages';
  return undefined;
}

interface Vector {
  name: string;
  applet: string;
  flags: string[];
  repos: { file: string; tag?: string }[];
  instdb?: string;
  world: string[];
  args: string[];
  expect: string[];
}

/** Shell-like words: "a b" stays one word. */
function words(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

function parseVector(name: string, text: string): Vector {
  const argsText = /@ARGS\n([\s\S]*?)@EXPECT/.exec(text)?.[1] ?? '';
  const expect = (text.split('@EXPECT\n')[1] ?? '').split('\n').filter((l) => l !== '');
  const v: Vector = { name, applet: '', flags: [], repos: [], world: [], args: [], expect };
  const argv = words(argsText);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (v.applet) {
      if (a.startsWith('-')) v.flags.push(a);
      else v.args.push(a);
    } else if (a === '--test-repo') {
      const spec = argv[++i]!.replace(/^!/, '');
      const colon = spec.indexOf(':');
      v.repos.push(colon < 0 ? { file: spec } : { file: spec.slice(colon + 1), tag: spec.slice(0, colon) });
      v.flags.push(a);
    } else if (a === '--test-instdb') {
      v.instdb = argv[++i]!;
      v.flags.push(a);
    } else if (a === '--test-world') {
      v.world = words(argv[++i]!);
      v.flags.push(a);
    } else if (a.startsWith('-')) v.flags.push(a);
    else v.applet = a;
  }
  return v;
}

function loadRepo(file: string, tag?: string): Repository {
  const parser = new ApkIndexParser(file, `/vectors/${tag ?? ''}/${file}`);
  parser.write(readFileSync(join(VECTORS, file), 'utf8'));
  const packages = parser.end();
  return { url: `/vectors/${tag ?? ''}/${file}`, arch: 'x86_64', description: file, packages, ...(tag ? { tag } : {}) };
}

/** What eib prints for the vector, in @EXPECT's form (changes numbered; an error as apk words it). */
function eibOutput(v: Vector): string[] {
  const repositories = v.repos.map((r) => loadRepo(r.file, r.tag));
  let installed: PackageInfo[] = [];
  const installedTags = new Map<string, string>();
  if (v.instdb) {
    const db = INSTALLED[v.instdb]!;
    const pool = loadRepo(db.repo).packages;
    installed = db.packages.map((id) => pool.find((p) => `${p.name}-${p.version}` === id)!);
    // The same entries as the repositories hold, so they are "available" there too.
    for (const p of installed) {
      const same = repositories.flatMap((r) => r.packages).find((q) => q.checksum === p.checksum);
      if (same) Object.assign(p, { repository: same.repository });
    }
    for (const w of v.world) {
      const m = /^([^@<>=~]+)@([^<>=~]+)/.exec(w);
      if (m) installedTags.set(m[1]!, m[2]!);
    }
  }
  try {
    const changes = planChanges({ world: addToWorld(v.world, v.args), repositories, installed, installedTags, arch: 'x86_64' });
    const count = installed.length + changes.filter((c) => !c.old).length - changes.filter((c) => !c.new).length;
    return [...changes.map((c, i) => `(${i + 1}/${changes.length}) ${describeChange(c)}`), `OK: 0 MiB in ${count} packages`];
  } catch (e) {
    const err = e as Error & { code?: string; lines?: () => string[] };
    if (err.code === 'EUNSATISFIABLE' && err.lines) return [`ERROR: ${err.lines()[0]}`, ...err.lines().slice(1)];
    return [`ERROR: ${err.message}`];
  }
}

/** apk wraps long lines at 50 columns; compare with whitespace runs collapsed. */
const flat = (lines: readonly string[]): string => lines.join(' ').replace(/\s+/g, ' ').trim();

const present = existsSync(VECTORS);
const vectors = present
  ? readdirSync(VECTORS)
      .filter((f) => f.endsWith('.test'))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .map((f) => parseVector(f.replace(/\.test$/, ''), readFileSync(join(VECTORS, f), 'utf8')))
  : [];

test('apk-tools solver vectors: every applicable vector gives apk\'s answer', { skip: !present && `no ${VECTORS}` }, () => {
  const applicable = vectors.filter((v) => notApplicable(v) === undefined);
  const failures: string[] = [];
  for (const v of applicable) {
    const got = eibOutput(v);
    // apk's own world-syntax errors ('foo=' …) are refused by eib with its own wording.
    const syntax = v.expect[0]?.startsWith("ERROR: '") || v.expect[0]?.endsWith('bad package specifier');
    if (syntax ? !got[0]?.startsWith('ERROR: ') : flat(got) !== flat(v.expect)) {
      failures.push(`${v.name}:\n  apk: ${v.expect.join('\n       ')}\n  eib: ${got.join('\n       ')}`);
    }
  }
  assert.ok(applicable.length >= 50, `only ${applicable.length} applicable vectors found`);
  if (process.env.EIB_VECTORS_LIST) console.log(vectors.map((v) => `${v.name}: ${notApplicable(v) ?? 'applies'}`).join('\n'));
  // The differences README.md explains; a fix makes this fail until the list is updated.
  assert.deepEqual(
    failures.map((f) => f.slice(0, f.indexOf(':'))),
    KNOWN_DIFFERENCES,
    `${failures.length} of ${applicable.length} vectors differ:\n${failures.join('\n')}`,
  );
});

test('apk-tools solver vectors: the README lists exactly the vectors that do not apply', { skip: !present && `no ${VECTORS}` }, () => {
  const readme = readFileSync(join(REPO_ROOT, 'test', 'apk', 'conformance', 'README.md'), 'utf8');
  const listed = [...readme.matchAll(/^\| ([\w-]+) +\|/gm)].map((m) => m[1]!).filter((n) => n !== 'vector');
  const skipped = vectors.filter((v) => notApplicable(v) !== undefined).map((v) => v.name);
  assert.deepEqual([...listed].sort(), [...skipped].sort());
});
