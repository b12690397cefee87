/**
 * Which installed package satisfies each `D:` atom of each installed package,
 * the way apk would pick among what is installed: a package of that name
 * first, then a provider (`p:` — so:, cmd:, pc:, paths such as /bin/sh, or
 * virtual names) by provider priority (k:), then by name. Conflicts (!name)
 * are not dependencies.
 */
import { parseDependency, satisfies } from '../apk/dependency.js';
import type { Dependency } from '../apk/types.js';
import type { ApkMetadata } from './apk-metadata.js';

export interface ResolvedDependencies {
  /** Package name → names of the packages it depends on, sorted, without itself. */
  edges: Map<string, string[]>;
  /** Package name → atoms no installed package satisfies (or that do not parse). */
  unresolved: Map<string, string[]>;
}

interface Provider {
  pkg: ApkMetadata;
  /** The provided version; null for a virtual provide. */
  version: string | null;
  /** The package's own name rather than a p: entry. */
  own: boolean;
}

function parseAtom(atom: string): Dependency | undefined {
  try {
    return parseDependency(atom);
  } catch {
    return undefined;
  }
}

function providersByName(packages: readonly ApkMetadata[]): Map<string, Provider[]> {
  const map = new Map<string, Provider[]>();
  const add = (name: string, p: Provider): void => {
    const list = map.get(name);
    if (list) list.push(p);
    else map.set(name, [p]);
  };
  for (const pkg of packages) {
    add(pkg.name, { pkg, version: pkg.version, own: true });
    for (const atom of pkg.provides) {
      const dep = parseAtom(atom);
      if (dep && !dep.conflict) add(dep.name, { pkg, version: dep.version ?? null, own: false });
    }
  }
  return map;
}

function better(a: Provider, b: Provider): number {
  if (a.own !== b.own) return a.own ? -1 : 1;
  if (a.pkg.providerPriority !== b.pkg.providerPriority) return b.pkg.providerPriority - a.pkg.providerPriority;
  return a.pkg.name < b.pkg.name ? -1 : a.pkg.name > b.pkg.name ? 1 : 0;
}

export function resolveDependencies(packages: readonly ApkMetadata[]): ResolvedDependencies {
  const providers = providersByName(packages);
  const edges = new Map<string, string[]>();
  const unresolved = new Map<string, string[]>();
  for (const pkg of packages) {
    const targets = new Set<string>();
    const missing: string[] = [];
    for (const atom of pkg.depends) {
      const dep = parseAtom(atom);
      if (dep?.conflict) continue;
      const found = dep === undefined ? [] : (providers.get(dep.name) ?? []).filter((p) => satisfies(dep, dep.name, p.version, p.pkg.checksum));
      const chosen = found.sort(better)[0];
      if (chosen === undefined) missing.push(atom);
      else if (chosen.pkg.name !== pkg.name) targets.add(chosen.pkg.name);
    }
    edges.set(pkg.name, [...targets].sort());
    if (missing.length > 0) unresolved.set(pkg.name, missing);
  }
  return { edges, unresolved };
}
