/**
 * apk dependency atoms as they appear in world, D:, p:, i: and r: fields:
 * `[!]name[@tag][op version]` with op one of = < <= > >= ~ ><
 * (apk-tools src/package.c apk_blob_pull_dep). Names may be plain package
 * names or namespaced provides: so:libc.musl-aarch64.so.1, cmd:sh, pc:zlib,
 * /bin/sh.
 */
import { EibError } from '../errors.js';
import type { Dependency } from './types.js';
import { compareVersionsFuzzy, isValidVersion } from './version.js';

export class DependencyError extends EibError<'EDEPENDENCY'> {
  constructor(message: string) {
    super('EDEPENDENCY', message, { exitCode: 2 });
  }
}

type Op = NonNullable<Dependency['op']>;
const OPS: readonly Op[] = ['=', '<', '<=', '>', '>=', '~', '><'];

/** Parse one dependency atom; throws DependencyError naming the atom when it is malformed. */
export function parseDependency(text: string): Dependency {
  let s = text.trim();
  const conflict = s.startsWith('!');
  if (conflict) s = s.slice(1);
  const opAt = s.search(/[<>=~]/);
  let name = opAt < 0 ? s : s.slice(0, opAt);
  let op: Op | undefined;
  let version: string | undefined;
  if (opAt >= 0) {
    const opText = /^[<>=~]+/.exec(s.slice(opAt))![0];
    if (!(OPS as readonly string[]).includes(opText)) {
      throw new DependencyError(`dependency "${text}": unknown operator "${opText}" (use one of ${OPS.join(' ')})`);
    }
    op = opText as Op;
    version = s.slice(opAt + opText.length);
    if (version === '') throw new DependencyError(`dependency "${text}": "${opText}" needs a version after it`);
    // "><" pins a package by its checksum (Q1…), not by a version.
    if (op !== '><' && !isValidVersion(version)) {
      throw new DependencyError(`dependency "${text}": "${version}" is not a valid apk version`);
    }
  }
  let tag: string | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    tag = name.slice(at + 1);
    name = name.slice(0, at);
    if (tag === '') throw new DependencyError(`dependency "${text}": empty repository tag after "@"`);
  }
  if (name === '' || /\s/.test(name)) throw new DependencyError(`dependency "${text}": missing or malformed package name`);
  const dep: Dependency = { name, conflict };
  if (op !== undefined) dep.op = op;
  if (version !== undefined) dep.version = version;
  if (tag !== undefined) dep.tag = tag;
  return dep;
}

/** Parse a space-separated list of atoms (a D:, p:, i: or r: field). */
export function parseDependencyList(text: string): Dependency[] {
  return text
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(parseDependency);
}

/** The atom as apk writes it. */
export function formatDependency(dep: Dependency): string {
  return `${dep.conflict ? '!' : ''}${dep.name}${dep.tag ? `@${dep.tag}` : ''}${dep.op && dep.version !== undefined ? `${dep.op}${dep.version}` : ''}`;
}

/**
 * Whether a version constraint accepts `version`, ignoring conflict and name.
 * `version` null stands for a provide without a version (virtual), which only
 * an unversioned constraint accepts.
 */
export function versionMatches(dep: Pick<Dependency, 'op' | 'version'>, version: string | null, checksum?: string): boolean {
  if (dep.op === undefined || dep.version === undefined) return true;
  if (dep.op === '><') return checksum !== undefined && checksum === dep.version;
  if (version === null) return false;
  const r = compareVersionsFuzzy(version, dep.version, dep.op === '~');
  switch (dep.op) {
    case '=':
    case '~':
      return r === 0;
    case '<':
      return r < 0;
    case '<=':
      return r <= 0;
    case '>':
      return r > 0;
    case '>=':
      return r >= 0;
  }
}

/**
 * Whether a provider (a package's own name and version, or one of its
 * provides) satisfies `dep`. For a conflict (`!name`) the answer is true when
 * the provider does NOT match the constraint, as in apk: `!foo<2` is
 * satisfied by foo-2 and refused by foo-1. `providerVersion` null is a
 * virtual provide; `checksum` (C: of the package) serves `name><Q1…` pins.
 */
export function satisfies(dep: Dependency, providerName: string, providerVersion: string | null, checksum?: string): boolean {
  if (providerName !== dep.name) return dep.conflict;
  return versionMatches(dep, providerVersion, checksum) !== dep.conflict;
}

/**
 * `apk add` on a world: each atom replaces the world's atom for the same
 * name ("a" then "a>=2" leaves "a>=2"), or is appended.
 */
export function addToWorld(world: readonly string[], atoms: readonly string[]): string[] {
  const nameOf = (atom: string): string => parseDependency(atom).name;
  const out = [...world];
  for (const atom of atoms) {
    const at = out.findIndex((w) => nameOf(w) === nameOf(atom));
    if (at >= 0) out[at] = atom;
    else out.push(atom);
  }
  return out;
}
