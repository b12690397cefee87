/**
 * Checks the schema cannot express: unique stage names, stages that do
 * something, and host paths that exist. They run on the raw data even when
 * the schema found problems (so every problem is reported at once), and so
 * look only at values of the expected type.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { diskProblems } from './disk.js';
import { FILE_KEYS, STAGE_STEPS } from './file-types.js';
import { expandPath, isHttpUrl, pathKind } from './paths.js';
import { displayPath } from './schema-problems.js';
import { looksLikeScriptPath } from './scripts.js';
import type { DataPath, Problem } from './yaml-source.js';
import { parseRepositoryEntry } from './repository-entry.js';

/**
 * The most stages a config may have. The last stage's overlay stacks the
 * snapshots of all earlier ones, and the kernel takes a mount's options in
 * one page: 32 snapshot names (65 bytes each, relative to their folder; see
 * sandbox/mounts.ts) leave room for the upper, work and scaffold paths.
 * Refused when the file is read, not after minutes of building.
 */
export const MAX_STAGES = 32;

export interface PathContext {
  /** The config's folder. */
  readonly dir: string;
  readonly home: string;
  /** How the config file is named in messages. */
  readonly configName: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function strings(v: unknown): { value: string; index: number }[] {
  return Array.isArray(v) ? v.flatMap((value: unknown, index) => (typeof value === 'string' && value !== '' ? [{ value, index }] : [])) : [];
}

function hasContent(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'string') return v.trim() !== '';
  return v !== undefined && v !== null;
}

/** "overlay/ does not exist (/abs/overlay/)" with the absolute path only when it adds something. */
function missing(value: string, absolute: string): string {
  return absolute === value ? `${value} does not exist` : `${value} does not exist (${absolute})`;
}

export async function semanticProblems(data: unknown, ctx: PathContext): Promise<Problem[]> {
  if (!isObj(data)) return [];
  const problems: Problem[] = [];
  const relative = `relative to the folder of ${ctx.configName}`;

  async function expectPath(path: DataPath, value: string, want: 'file' | 'directory' | 'any', what: string): Promise<void> {
    const absolute = expandPath(value, ctx.dir, ctx.home, { keepTrailingSlash: true });
    const kind = await pathKind(absolute);
    const where = displayPath(path);
    if (kind === 'missing') {
      problems.push({ path, at: 'value', message: `${where}: ${missing(value, absolute)}; expected ${what}, ${relative}` });
    } else if (want !== 'any' && kind !== want) {
      problems.push({ path, at: 'value', message: `${where}: ${value} is not a ${want}; expected ${what}` });
    }
  }

  async function expectScript(path: DataPath, script: unknown): Promise<void> {
    if (Array.isArray(script)) {
      for (const { value, index } of strings(script)) await expectPath([...path, index], value, 'file', 'a script file');
    } else if (typeof script === 'string' && looksLikeScriptPath(script)) {
      const absolute = expandPath(script.trim(), ctx.dir, ctx.home);
      if ((await pathKind(absolute)) !== 'file') {
        problems.push({ path, at: 'value', message: `${displayPath(path)}: script ${missing(script.trim(), absolute)}; expected a script file ${relative}, or inline shell` });
      }
    }
  }

  const stages = Array.isArray(data['stages']) ? (data['stages'] as unknown[]) : [];
  const firstByName = new Map<string, number>();
  let anyPackages = false;
  for (const [i, stage] of stages.entries()) {
    if (!isObj(stage)) continue;
    const at: DataPath = ['stages', i];
    const name = stage['name'];
    if (typeof name === 'string') {
      const first = firstByName.get(name);
      if (first === undefined) firstByName.set(name, i);
      else problems.push({ path: [...at, 'name'], at: 'value', message: `stages[${i}].name: "${name}" is already the name of stages[${first}]; expected a unique name per stage` });
    }
    // A stage with an unknown key (a misspelt step, most likely) is reported for that key alone.
    const unknownKey = Object.keys(stage).some((k) => !(k in FILE_KEYS['stages[]']));
    if (!unknownKey && !STAGE_STEPS.some((step) => hasContent(stage[step]))) {
      const label = typeof name === 'string' ? `stage "${name}"` : displayPath(at);
      problems.push({ path: at, at: 'value', message: `${label} has no step; expected at least one of: ${STAGE_STEPS.join(', ')}` });
    }
    if (strings(stage['packages']).length > 0) anyPackages = true;
    const files = Array.isArray(stage['files']) ? (stage['files'] as unknown[]) : [];
    for (const [j, file] of files.entries()) {
      const src = isObj(file) ? file['src'] : undefined;
      if (typeof src !== 'string' || src === '') continue;
      const want = src.endsWith('/') ? 'directory' : 'any';
      await expectPath([...at, 'files', j, 'src'], src, want, want === 'directory' ? 'a directory (a trailing / copies its contents)' : 'an existing file or directory');
    }
    for (const key of ['host-run', 'run'] as const) await expectScript([...at, key], stage[key]);
  }

  if (stages.length > MAX_STAGES) {
    problems.push({
      path: ['stages', MAX_STAGES],
      at: 'value',
      message: `stages[${MAX_STAGES}]: ${stages.length} stages, but eib stacks at most ${MAX_STAGES} (one overlay mount holds the snapshots of every earlier stage); expected at most ${MAX_STAGES} stages: merge some`,
    });
  }

  const alpine = isObj(data['alpine']) ? data['alpine'] : undefined;
  if (alpine) {
    const tags = new Set<string>();
    for (const { value, index } of strings(alpine['repositories'])) {
      const { location, tag } = parseRepositoryEntry(value);
      if (tag !== undefined) tags.add(tag);
      if (!isHttpUrl(location) && !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(location)) {
        await expectPath(['alpine', 'repositories', index], location, 'directory', 'a repository directory (holding <arch>/APKINDEX.tar.gz) or an http(s) URL');
      }
    }
    // name@tag asks for a tagged repository: it must exist.
    for (const [i, stage] of (Array.isArray(data['stages']) ? (data['stages'] as unknown[]) : []).entries()) {
      if (!isObj(stage)) continue;
      for (const { value, index } of strings(stage['packages'])) {
        const tag = /^!?[^@<>=~]+@([^<>=~]*)/.exec(value)?.[1];
        if (tag === undefined || tags.has(tag)) continue;
        problems.push({
          path: ['stages', i, 'packages', index],
          at: 'value',
          message: `stages[${i}].packages[${index}]: "${value}" asks for repository tag "${tag}", but no repository is tagged so; expected an alpine.repositories entry "@${tag} URL"${tags.size > 0 ? ` (tags: ${[...tags].join(', ')})` : ''}`,
        });
      }
    }
    for (const { value, index } of strings(alpine['keys'])) {
      const path: DataPath = ['alpine', 'keys', index];
      const absolute = expandPath(value, ctx.dir, ctx.home);
      const kind = await pathKind(absolute);
      if (kind === 'missing') {
        problems.push({ path, at: 'value', message: `${displayPath(path)}: ${missing(value, absolute)}; expected a *.rsa.pub file or a directory of them, ${relative}` });
      } else if (kind === 'directory' && (await keyFiles(absolute)).length === 0) {
        problems.push({ path, at: 'value', message: `${displayPath(path)}: directory ${value} holds no *.rsa.pub file; expected the repositories' public keys in it` });
      }
    }
    const hasRelease = typeof alpine['release'] === 'string';
    const hasKeys = (Array.isArray(alpine['keys']) && alpine['keys'].length > 0) || hasRelease;
    const alpineUnknownKey = Object.keys(alpine).some((k) => !(k in FILE_KEYS.alpine));
    if (!hasRelease && alpine['repositories'] === undefined && !alpineUnknownKey) {
      problems.push({ path: ['alpine'], at: 'key', message: 'alpine: no repositories; expected alpine.release (v3.20, edge, …: the official repositories and keys) or alpine.repositories' });
    }
    if (alpine['mirror'] !== undefined && !hasRelease) {
      problems.push({ path: ['alpine', 'mirror'], at: 'key', message: 'alpine.mirror: only used with alpine.release; expected alpine.release next to it, or the mirror\'s URLs in alpine.repositories' });
    }
    if (anyPackages && !hasKeys && !alpineUnknownKey && alpine['allow-untrusted'] !== true) {
      problems.push({ path: ['alpine'], at: 'key', message: 'alpine: no keys to trust, and stages install packages; expected alpine.keys (*.rsa.pub files or directories of them), or allow-untrusted: true' });
    }
  }

  const boot = isObj(data['boot']) ? data['boot'] : undefined;
  if (boot && typeof boot['kernel'] === 'string' && boot['kernel'] !== '') {
    await expectPath(['boot', 'kernel'], boot['kernel'], 'file', 'a kernel image file');
  }
  if (boot) await expectScript(['boot', 'test'], boot['test']);
  const outputs = isObj(data['outputs']) ? data['outputs'] : undefined;
  if (outputs) problems.push(...(await diskProblems(outputs['disk'], ctx)));

  const registry = isObj(data['registry']) ? data['registry'] : undefined;
  if (registry && typeof registry['ca'] === 'string' && registry['ca'] !== '') {
    await expectPath(['registry', 'ca'], registry['ca'], 'file', 'a PEM certificate file');
  }
  return problems;
}

/** The *.rsa.pub files of a key directory, sorted, as absolute paths. */
export async function keyFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  const keys: string[] = [];
  for (const name of names.filter((n) => n.endsWith('.rsa.pub')).sort()) {
    const path = join(dir, name);
    if ((await pathKind(path)) === 'file') keys.push(path);
  }
  return keys;
}
