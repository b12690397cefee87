/**
 * The package solver: which packages (and versions) a world needs, and the
 * order to install them. It follows the algorithm of apk-tools 2.14
 * (src/solver.c) step for step, because users expect eib to pick exactly
 * what `apk add` would:
 *
 * - names are resolved one at a time, always the most constrained first (a
 *   name with a single candidate, else one with requirers, by longest
 *   dependency chain); constraints propagate down (a dependency shared by
 *   every candidate is required before the choice) and disqualifications
 *   propagate up (a package whose dependency became unsatisfiable);
 * - among candidates: selectable, in the last merge group, fewest conflicts,
 *   allowed pinning, installed (no upgrade), highest version by the
 *   requested name, then by the package name, provider_priority, and the
 *   first repository;
 * - install_if packages join when all their conditions are chosen;
 * - the install order is apk's changeset order (src/solver.c
 *   generate_changeset, which src/commit.c executes as is): world sorted by
 *   name, each package after its dependencies, install_if packages right
 *   after the last of their conditions.
 */
import { EibError } from '../errors.js';
import { parseDependency } from './dependency.js';
import { compareVersions, compareVersionsFuzzy } from './version.js';
import type { Repository } from './repository.js';
import type { PackageInfo } from './types.js';

export class SolverError extends EibError<'EUNSATISFIABLE'> {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('EUNSATISFIABLE', `the package set cannot be satisfied:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
  override lines(): string[] {
    return ['the package set cannot be satisfied:', ...this.problems.map((p) => `  ${p}`)];
  }
}

export interface SolveOptions {
  /** World atoms: "busybox", "openssh>9", "!foo", "name@tag". */
  world: readonly string[];
  /** In priority order: on equal versions the first repository wins. */
  repositories: readonly Repository[];
  /** Packages already installed (preferred when they still satisfy the world). */
  installed?: readonly PackageInfo[];
  arch: string;
}

interface Provider {
  pkg: Pkg | null;
  /** null: provided without a version (a virtual provide). */
  version: string | null;
}

interface Dep {
  name: Name;
  conflict: boolean;
  op: string | undefined;
  version: string | undefined;
  tag: number;
  text: string;
}

interface Name {
  name: string;
  providers: Provider[];
  rdepends: Name[];
  rinstallIf: Name[];
  seen: boolean;
  locked: boolean;
  requirers: number;
  hasIif: boolean;
  noIif: boolean;
  reevaluateDeps: boolean;
  reevaluateIif: boolean;
  reverseDepsDone: boolean;
  hasOptions: boolean;
  hasVirtualProvides: boolean;
  maxDepChain: number;
  mergeDepends: number;
  mergeProvides: number;
  chosen: Provider;
  inDirty: boolean;
  inUnresolved: boolean;
  inChangeset: boolean;
}

interface Pkg {
  info: PackageInfo;
  name: Name;
  version: string;
  depends: Dep[];
  provides: { name: Name; version: string | null }[];
  installIf: Dep[];
  priority: number;
  /** Bit i+1: in repositories[i] (bit 0 is apk's cache pseudo-repository, unused). */
  repos: number;
  installed: boolean;
  seen: boolean;
  selectable: boolean;
  iifFailed: boolean;
  iifTriggered: boolean;
  tagPreferred: boolean;
  tagOk: boolean;
  maxDepChain: number;
  conflicts: number;
  pinningAllowed: number;
  pinningPreferred: number;
  dependenciesMerged: boolean;
  dependenciesUsed: boolean;
  error: boolean;
  inChangeset: boolean;
}

const NONE: Provider = { pkg: null, version: null };
const DEFAULT_PINNING = 1;

const ffs = (x: number): number => (x === 0 ? 0 : 32 - Math.clz32(x & -x));
const num = (b: boolean): number => (b ? 1 : 0);

/** Does provider `p` satisfy `dep` (apk_dep_is_provided)? */
function provided(dep: Dep, p: Provider): boolean {
  if (!p.pkg) return dep.conflict;
  if (dep.op === '><') return p.pkg.info.checksum === dep.version;
  if (dep.op === undefined || dep.version === undefined) return !dep.conflict;
  if (p.version === null) return dep.conflict;
  const r = compareVersionsFuzzy(p.version, dep.version, dep.op === '~');
  const ok =
    dep.op === '=' || dep.op === '~' ? r === 0 : dep.op === '<' ? r < 0 : dep.op === '<=' ? r <= 0 : dep.op === '>' ? r > 0 : r >= 0;
  return ok !== dep.conflict;
}

/** Provider version comparison where "no version" decides nothing. */
function compareProvided(a: string | null, b: string | null): number {
  if (a === null || b === null) return 0;
  return compareVersions(a, b);
}

class Solver {
  private readonly names = new Map<string, Name>();
  private readonly pkgs: Pkg[] = [];
  private readonly tagIds = new Map<string, number>([['', 0]]);
  /** Per tag id: the repositories (bitmask) it allows. */
  private readonly tagRepos: number[] = [0];
  private dirty: Name[] = [];
  private unresolved: Name[] = [];
  private errors = 0;
  private pinningInherit = 0;
  private readonly defaultRepos: number;

  constructor(o: SolveOptions) {
    o.repositories.forEach((repo, i) => {
      const tag = repo.tag ?? '';
      let id = this.tagIds.get(tag);
      if (id === undefined) {
        id = this.tagRepos.length;
        this.tagIds.set(tag, id);
        this.tagRepos.push(0);
      }
      this.tagRepos[id]! |= 1 << (i + 1);
    });
    this.defaultRepos = this.tagRepos[0]!;
    const byChecksum = new Map<string, Pkg>();
    const add = (info: PackageInfo, repoBit: number, installed: boolean): void => {
      if (info.arch !== '' && info.arch !== o.arch && info.arch !== 'noarch') return;
      const key = info.checksum !== '' ? info.checksum : `${info.name}-${info.version}`;
      const existing = byChecksum.get(key);
      if (existing) {
        existing.repos |= repoBit;
        existing.installed ||= installed;
        return;
      }
      const pkg = this.newPkg(info, repoBit, installed);
      byChecksum.set(key, pkg);
    };
    for (const info of o.installed ?? []) add(info, 0, true);
    o.repositories.forEach((repo, i) => {
      for (const info of repo.packages) add(info, 1 << (i + 1), false);
    });
  }

  name(n: string): Name {
    let name = this.names.get(n);
    if (!name) {
      name = {
        name: n,
        providers: [],
        rdepends: [],
        rinstallIf: [],
        seen: false,
        locked: false,
        requirers: 0,
        hasIif: false,
        noIif: false,
        reevaluateDeps: false,
        reevaluateIif: false,
        reverseDepsDone: false,
        hasOptions: false,
        hasVirtualProvides: false,
        maxDepChain: 0,
        mergeDepends: 0,
        mergeProvides: 0,
        chosen: NONE,
        inDirty: false,
        inUnresolved: false,
        inChangeset: false,
      };
      this.names.set(n, name);
    }
    return name;
  }

  dep(text: string, allowTag = false): Dep {
    const d = parseDependency(text);
    let tag = 0;
    if (d.tag !== undefined) {
      const id = this.tagIds.get(d.tag);
      if (!allowTag || id === undefined) {
        throw new EibError('EREPO', `"${text}": no repository is tagged "${d.tag}"; tag one (repositories: - { url, tag: ${d.tag} }) or drop "@${d.tag}"`, { exitCode: 2 });
      }
      tag = id;
    }
    return { name: this.name(d.name), conflict: d.conflict, op: d.op, version: d.version, tag, text };
  }

  private newPkg(info: PackageInfo, repos: number, installed: boolean): Pkg {
    const name = this.name(info.name);
    const pkg: Pkg = {
      info,
      name,
      version: info.version,
      depends: info.depends.map((d) => this.dep(d)),
      provides: info.provides.map((p) => {
        const d = parseDependency(p);
        return { name: this.name(d.name), version: d.op === '=' && d.version !== undefined ? d.version : null };
      }),
      installIf: info.installIf.map((d) => this.dep(d)),
      priority: info.providerPriority ?? 0,
      repos,
      installed,
      seen: false,
      selectable: false,
      iifFailed: false,
      iifTriggered: false,
      tagPreferred: false,
      tagOk: false,
      maxDepChain: 0,
      conflicts: 0,
      pinningAllowed: DEFAULT_PINNING,
      pinningPreferred: DEFAULT_PINNING,
      dependenciesMerged: false,
      dependenciesUsed: false,
      error: false,
      inChangeset: false,
    };
    name.providers.push({ pkg, version: pkg.version });
    for (const p of pkg.provides) p.name.providers.push({ pkg, version: p.version });
    for (const d of pkg.depends) if (!d.name.rdepends.includes(name)) d.name.rdepends.push(name);
    for (const d of pkg.installIf) if (!d.name.rinstallIf.includes(name)) d.name.rinstallIf.push(name);
    this.pkgs.push(pkg);
    return pkg;
  }

  private maskRepos(mask: number): number {
    let repos = 0;
    this.tagRepos.forEach((r, i) => {
      if (mask & (1 << i)) repos |= r;
    });
    return repos;
  }

  private pkgRepos(pkg: Pkg): number {
    return pkg.repos | (pkg.installed ? this.tagRepos[0]! : 0);
  }

  // --- queues -------------------------------------------------------------

  private queueDirty(name: Name): void {
    if (name.inDirty || name.locked || (name.requirers === 0 && !name.reevaluateIif)) return;
    name.inDirty = true;
    this.dirty.push(name);
  }

  private queueUnresolved(name: Name): void {
    if (name.locked) return;
    const want = name.requirers > 0 || name.hasIif;
    if (want && !name.inUnresolved) {
      name.inUnresolved = true;
      this.unresolved.unshift(name);
    } else if (!want && name.inUnresolved) {
      name.inUnresolved = false;
      this.unresolved.splice(this.unresolved.indexOf(name), 1);
    }
  }

  private reevaluateReverseDeps(name: Name): void {
    for (const n of name.rdepends) {
      if (!n.seen) continue;
      n.reevaluateDeps = true;
      this.queueDirty(n);
    }
  }

  private reevaluateReverseInstallIf(name: Name): void {
    for (const n of name.rinstallIf) {
      if (!n.seen || n.noIif) continue;
      n.reevaluateIif = true;
      this.queueDirty(n);
    }
  }

  private disqualify(pkg: Pkg): void {
    pkg.selectable = false;
    this.reevaluateReverseDeps(pkg.name);
    for (const p of pkg.provides) this.reevaluateReverseDeps(p.name);
    this.reevaluateReverseInstallIf(pkg.name);
  }

  private markError(pkg: Pkg | null): void {
    if (!pkg || pkg.error) return;
    pkg.error = true;
    this.errors++;
  }

  private satisfiable(dep: Dep): boolean {
    const name = dep.name;
    if (name.locked) return provided(dep, name.chosen);
    if (name.requirers === 0 && provided(dep, NONE)) return true;
    return name.providers.some((p) => p.pkg!.selectable && provided(dep, p));
  }

  // --- discovery and constraints -------------------------------------------

  discover(name: Name): void {
    if (name.seen) return;
    name.seen = true;
    name.noIif = true;
    for (const p of name.providers) {
      const pkg = p.pkg!;
      if (!pkg.seen) {
        pkg.seen = true;
        pkg.pinningAllowed = DEFAULT_PINNING;
        pkg.pinningPreferred = DEFAULT_PINNING;
        pkg.selectable = pkg.repos !== 0 || pkg.installed;
        pkg.iifFailed = pkg.installIf.length === 0;
        pkg.tagPreferred = pkg.info.installedSize === 0 || (this.pkgRepos(pkg) & this.defaultRepos) !== 0;
        pkg.tagOk = pkg.tagPreferred || pkg.installed;
        for (const d of pkg.depends) {
          this.discover(d.name);
          pkg.maxDepChain = Math.max(pkg.maxDepChain, d.name.maxDepChain + 1);
        }
      }
      name.noIif &&= pkg.iifFailed;
      name.maxDepChain = Math.max(name.maxDepChain, pkg.maxDepChain);
    }
    for (const n of name.rinstallIf) this.discover(n);
  }

  private requirersChanged(name: Name): void {
    this.queueUnresolved(name);
    this.reevaluateReverseInstallIf(name);
    this.queueDirty(name);
  }

  private inheritPinning(pkg: Pkg, parent: Pkg | null): void {
    const repos = this.pkgRepos(pkg);
    if (parent) {
      pkg.pinningAllowed |= parent.pinningAllowed;
    } else {
      pkg.pinningAllowed |= this.pinningInherit;
      pkg.pinningPreferred = this.pinningInherit;
      pkg.tagPreferred = (repos & this.maskRepos(pkg.pinningPreferred)) !== 0;
    }
    pkg.tagOk ||= (repos & this.maskRepos(pkg.pinningAllowed)) !== 0;
  }

  applyConstraint(parent: Pkg | null, dep: Dep): void {
    const name = dep.name;
    if (!dep.conflict) {
      name.requirers++;
      if (name.requirers === 1) this.requirersChanged(name);
    }
    for (const p of name.providers) {
      const pkg = p.pkg!;
      const ok = provided(dep, p);
      if (!ok) pkg.conflicts++;
      if (pkg.selectable && pkg.conflicts) this.disqualify(pkg);
      if (ok) this.inheritPinning(pkg, parent);
    }
  }

  private excludeNonProviders(name: Name, mustProvide: Name, skipVirtuals: boolean): void {
    if (name === mustProvide) return;
    for (const p of name.providers) {
      const pkg = p.pkg!;
      if (pkg.name === mustProvide || !pkg.selectable || (skipVirtuals && p.version === null)) continue;
      if (pkg.provides.some((d) => d.name === mustProvide || (skipVirtuals && d.version === null))) continue;
      this.disqualify(pkg);
    }
  }

  /** merge_index: count `name` in the current merge round when every earlier candidate had it. */
  private static merge(name: Name, field: 'mergeDepends' | 'mergeProvides', options: number): boolean {
    if (name[field] !== options) return false;
    name[field] = options + 1;
    return true;
  }

  private static mergeComplete(name: Name, field: 'mergeDepends' | 'mergeProvides', options: number): boolean {
    const all = name[field] === options;
    name[field] = 0;
    return all;
  }

  reconsider(name: Name): void {
    const reevaluateDeps = name.reevaluateDeps;
    const reevaluateIif = name.reevaluateIif;
    name.reevaluateDeps = false;
    name.reevaluateIif = false;
    let first: Pkg | undefined;
    let options = 0;
    let tagNotOk = 0;
    let hasIif = false;
    let noIif = true;

    for (const p of name.providers) {
      const pkg = p.pkg!;
      pkg.dependenciesMerged = false;
      if (reevaluateDeps) {
        if (!pkg.selectable) continue;
        if (pkg.depends.some((d) => !this.satisfiable(d))) this.disqualify(pkg);
      }
      if (!pkg.selectable) continue;
      if (reevaluateIif && !pkg.iifTriggered && !pkg.iifFailed) {
        pkg.iifTriggered = true;
        pkg.iifFailed = false;
        for (const d of pkg.installIf) {
          if (!d.name.locked) {
            pkg.iifTriggered = false;
            pkg.iifFailed = false;
            break;
          }
          if (!provided(d, d.name.chosen)) {
            pkg.iifTriggered = false;
            pkg.iifFailed = true;
            break;
          }
        }
      }
      if (reevaluateIif && pkg.iifTriggered) {
        for (const d of pkg.installIf) this.inheritPinning(pkg, d.name.chosen.pkg);
      }
      hasIif ||= pkg.iifTriggered;
      noIif &&= pkg.iifFailed;
      if (name.requirers === 0) continue;

      pkg.dependenciesMerged = true;
      first ??= pkg;
      for (const d of pkg.depends) if (!d.conflict) Solver.merge(d.name, 'mergeDepends', options);
      if (Solver.merge(pkg.name, 'mergeProvides', options)) pkg.name.hasVirtualProvides ||= p.version === null;
      for (const d of pkg.provides) if (Solver.merge(d.name, 'mergeProvides', options)) d.name.hasVirtualProvides ||= d.version === null;
      if (!pkg.tagOk) tagNotOk++;
      options++;
    }
    name.hasOptions = options > 1 || tagNotOk > 0;
    name.hasIif = hasIif;
    name.noIif = noIif;
    this.queueUnresolved(name);

    if (first) {
      const pkg = first;
      for (const p of name.providers) p.pkg!.dependenciesUsed = p.pkg!.dependenciesMerged;
      if (options === 1) {
        for (const d of pkg.depends) if (Solver.mergeComplete(d.name, 'mergeDepends', options)) this.applyConstraint(pkg, d);
      } else {
        for (const d of pkg.depends) {
          const n0 = d.name;
          if (Solver.mergeComplete(n0, 'mergeDepends', options) && n0.requirers === 0) {
            // A dependency common to every candidate: require it already.
            n0.requirers++;
            this.requirersChanged(n0);
            for (const p of n0.providers) this.inheritPinning(p.pkg!, pkg);
          }
        }
      }
      if (Solver.mergeComplete(pkg.name, 'mergeProvides', options)) this.excludeNonProviders(pkg.name, name, pkg.name.hasVirtualProvides);
      for (const d of pkg.provides) {
        if (Solver.mergeComplete(d.name, 'mergeProvides', options)) this.excludeNonProviders(d.name, name, d.name.hasVirtualProvides);
      }
      pkg.name.hasVirtualProvides = false;
      for (const d of pkg.provides) d.name.hasVirtualProvides = false;
    }
    name.reverseDepsDone = !name.rdepends.some((n) => n.seen && !n.locked);
  }

  // --- choice ---------------------------------------------------------------

  private compareProviders(pa: Provider, pb: Provider): number {
    const a = pa.pkg;
    const b = pb.pkg;
    if (!a || !b) return num(a !== null) - num(b !== null);
    let r =
      num(a.selectable) - num(b.selectable) ||
      num(a.dependenciesUsed) - num(b.dependenciesUsed) ||
      b.conflicts - a.conflicts ||
      num(a.tagOk) - num(b.tagOk) ||
      num(a.tagPreferred) - num(b.tagPreferred) ||
      num(a.installed) - num(b.installed);
    if (r) return r;
    r = compareProvided(pa.version, pb.version);
    if (r) return r;
    if (a.name === b.name) {
      r = compareVersions(a.version, b.version);
      if (r) return r;
    }
    return num(a.installed) - num(b.installed) || a.priority - b.priority || num(a.selectable) - num(b.selectable) || ffs(b.repos) - ffs(a.repos);
  }

  private assign(name: Name, p: Provider): void {
    if (name.locked) {
      if (p.version === null && name.chosen.version === null) return;
      // Two chosen packages provide the same name.
      this.markError(p.pkg);
      this.markError(name.chosen.pkg);
      return;
    }
    name.locked = true;
    name.chosen = p;
    if (name.inUnresolved) {
      name.inUnresolved = false;
      this.unresolved.splice(this.unresolved.indexOf(name), 1);
    }
    if (name.inDirty) {
      name.inDirty = false;
      this.dirty.splice(this.dirty.indexOf(name), 1);
    }
    for (const p0 of name.providers) {
      if (p0.pkg === p.pkg) continue;
      if (p.version === null && p0.version === null) continue;
      this.disqualify(p0.pkg!);
    }
    this.reevaluateReverseDeps(name);
    this.reevaluateReverseInstallIf(name);
  }

  private select(name: Name): void {
    let chosen: Provider = NONE;
    if (name.requirers > 0 || name.hasIif) {
      for (const p of name.providers) {
        const pkg = p.pkg!;
        if (name.requirers === 0 && (!pkg.iifTriggered || !pkg.tagOk)) continue;
        // A virtual provide without provider_priority is not picked
        // automatically when there is a choice.
        if (p.version === null && pkg.name.requirers === 0 && pkg.priority === 0 && name.providers.length > 1) continue;
        if (this.compareProviders(p, chosen) > 0) chosen = p;
      }
    }
    const pkg = chosen.pkg;
    if (pkg) {
      if (!pkg.selectable || !pkg.tagOk) this.markError(pkg);
      this.assign(pkg.name, { pkg, version: pkg.version });
      for (const d of pkg.provides) this.assign(d.name, { pkg, version: d.version });
      for (const d of pkg.depends) this.applyConstraint(pkg, d);
    } else {
      this.assign(name, NONE);
      if (name.requirers > 0) this.errors++;
    }
  }

  private static dequeueOrder(a: Name, b: Name): number {
    const r = num(a.requirers > 0) - num(b.requirers > 0);
    if (r) return -r;
    return -(a.maxDepChain - b.maxDepChain);
  }

  run(world: Dep[]): void {
    for (const d of world) this.discover(d.name);
    for (const d of world) {
      this.pinningInherit = 1 << d.tag;
      this.applyConstraint(null, d);
    }
    this.pinningInherit = 0;
    while (true) {
      while (this.dirty.length > 0) {
        const name = this.dirty.shift()!;
        name.inDirty = false;
        this.reconsider(name);
      }
      let pick: Name | undefined;
      for (const n of this.unresolved) {
        if (n.reverseDepsDone && n.requirers > 0 && !n.hasOptions) {
          pick = n;
          break;
        }
        if (!pick || Solver.dequeueOrder(n, pick) < 0) pick = n;
      }
      if (!pick) break;
      this.select(pick);
    }
  }

  // --- changeset ------------------------------------------------------------

  private readonly order: Pkg[] = [];

  private genNameChange(name: Name): void {
    if (name.inChangeset) return;
    name.inChangeset = true;
    const pkg = name.chosen.pkg;
    if (!pkg || pkg.inChangeset) return;
    pkg.inChangeset = true;
    pkg.name.inChangeset = true;
    for (const d of pkg.provides) d.name.inChangeset = true;
    for (const d of pkg.depends) this.genDep(pkg, d);
    this.order.push(pkg);
    for (const n of pkg.name.rinstallIf) this.checkInstallByIif(n);
  }

  private checkInstallByIif(name: Name): void {
    const pkg = name.chosen.pkg;
    if (!pkg || !name.seen || name.inChangeset) return;
    for (const d of pkg.installIf) {
      if (!d.name.inChangeset || !provided(d, d.name.chosen)) return;
    }
    this.genNameChange(name);
  }

  private genDep(parent: Pkg | null, dep: Dep): void {
    if (!provided(dep, dep.name.chosen)) this.markError(parent);
    this.genNameChange(dep.name);
    if (dep.name.chosen.pkg?.error) this.markError(parent);
  }

  changeset(world: Dep[]): Pkg[] {
    for (const d of world) this.genDep(null, d);
    for (const pkg of this.pkgs) if (pkg.installed) this.genNameChange(pkg.name);
    return this.order;
  }

  get failed(): boolean {
    return this.errors > 0;
  }

  // --- explaining failures ----------------------------------------------------

  /** One line per broken requirement, with the chain of requirers from the world. */
  explain(world: Dep[]): string[] {
    const problems: string[] = [];
    const seen = new Set<Pkg>();
    const queue: { pkg: Pkg | null; dep: Dep; chain: string[] }[] = world.map((dep) => ({ pkg: null, dep, chain: ['world'] }));
    while (queue.length > 0) {
      const { dep, chain } = queue.shift()!;
      const name = dep.name;
      const chosen = name.chosen.pkg;
      const here = [...chain, dep.text];
      if (!provided(dep, name.chosen)) {
        if (dep.conflict) problems.push(`${here.join(' → ')}: conflicts with ${chosen!.name.name}-${chosen!.version}`);
        else if (name.providers.length === 0) problems.push(`${here.join(' → ')}: no provider (no package is called or provides "${name.name}")`);
        else if (!chosen) {
          const candidates = name.providers.map((p) => `${p.pkg!.name.name}-${p.pkg!.version}`).join(', ');
          problems.push(`${here.join(' → ')}: no usable provider among ${candidates} (each conflicts with another requirement)`);
        } else problems.push(`${here.join(' → ')}: ${chosen.name.name}-${chosen.version} was chosen and does not satisfy it`);
        continue;
      }
      if (!chosen || seen.has(chosen)) continue;
      seen.add(chosen);
      const label = chosen.name.name === name.name ? name.name : `${name.name} (${chosen.name.name})`;
      for (const d of chosen.depends) queue.push({ pkg: chosen, dep: d, chain: [...chain, label] });
    }
    for (const pkg of this.pkgs) {
      if (!pkg.error || !pkg.inChangeset) continue;
      const clash = [pkg.name, ...pkg.provides.map((p) => p.name)].find((n) => n.chosen.pkg !== pkg && n.chosen.pkg !== null);
      if (clash) problems.push(`${pkg.name.name}-${pkg.version} and ${clash.chosen.pkg!.name.name}-${clash.chosen.pkg!.version} both provide "${clash.name}"`);
    }
    if (problems.length === 0) problems.push('a requirement cannot be met (apk would report an error here too)');
    return [...new Set(problems)];
  }
}

/**
 * Resolve `world` against the repositories: every package the world needs,
 * already-installed ones included, in apk's install order (dependencies
 * before dependents). Throws SolverError ('EUNSATISFIABLE') naming each
 * broken chain of requirements.
 */
export function solve(options: SolveOptions): PackageInfo[] {
  const solver = new Solver(options);
  const world = [...options.world]
    .map((w) => solver.dep(w, true))
    // apk sorts the world by name (strcmp) before solving.
    .sort((a, b) => (a.name.name < b.name.name ? -1 : a.name.name > b.name.name ? 1 : 0));
  solver.run(world);
  const order = solver.changeset(world);
  if (solver.failed) throw new SolverError(solver.explain(world));
  return order.map((p) => p.info);
}
