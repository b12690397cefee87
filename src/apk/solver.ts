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
    super('EUNSATISFIABLE', `unable to select packages:\n${problems.join('\n')}`);
    this.problems = problems;
  }
  override lines(): string[] {
    return ['unable to select packages:', ...this.problems];
  }
}

export interface SolveOptions {
  /** World atoms: "busybox", "openssh>9", "!foo", "name@tag". */
  world: readonly string[];
  /** In priority order: on equal versions the first repository wins. */
  repositories: readonly Repository[];
  /**
   * Packages already installed, in database order (preferred when they still
   * satisfy the world; replaced, upgraded or removed when they do not).
   */
  installed?: readonly PackageInfo[];
  /** The repository tag each installed package was pinned to when installed (by name; untagged when absent). */
  installedTags?: ReadonlyMap<string, string>;
  arch: string;
}

/**
 * One step of apk's changeset: install (no old), remove (no new), upgrade,
 * downgrade or replace (both). `tag` is the repository tag the new package
 * is pinned to ('' for the untagged repositories).
 */
export interface Change {
  old?: PackageInfo;
  new?: PackageInfo;
  tag: string;
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
  /** Changeset: the installed package of this name, and the name whose requirers count it. */
  installedPkg: Pkg | null;
  installedName: Name | null;
  /** Error report: discovery state bits and the provider count of "provided by:". */
  state: number;
  count: number;
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
  /** Tag id the installed package was pinned to. */
  installedTag: number;
  /** Error report: chosen (new in the changeset), discovery state, visit generation. */
  marked: boolean;
  state: number;
  genid: number;
}

const NONE: Provider = { pkg: null, version: null };
const DEFAULT_PINNING = 1;

const ffs = (x: number): number => (x === 0 ? 0 : 32 - Math.clz32(x & -x));
const num = (b: boolean): number => (b ? 1 : 0);

/**
 * What makes two index entries the same package for apk: the decoded C:
 * checksum (so base64 spellings that differ only in padding bits are one
 * package, the first entry seen), or the name and version without one.
 */
function identity(info: PackageInfo): string {
  const m = /^(Q[12])([A-Za-z0-9+/]+=*)$/.exec(info.checksum);
  if (m) return `${m[1]}${Buffer.from(m[2]!, 'base64').toString('hex')}`;
  return info.checksum !== '' ? info.checksum : `${info.name}-${info.version}`;
}

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
  /** Installed packages in database order. */
  private readonly installedPkgs: Pkg[] = [];

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
    const add = (info: PackageInfo, repoBit: number, installed: boolean): Pkg | undefined => {
      if (!installed && info.arch !== '' && info.arch !== o.arch && info.arch !== 'noarch') return undefined;
      const key = identity(info);
      const existing = byChecksum.get(key);
      if (existing) {
        existing.repos |= repoBit;
        existing.installed ||= installed;
        return existing;
      }
      const pkg = this.newPkg(info, repoBit, installed);
      byChecksum.set(key, pkg);
      return pkg;
    };
    for (const info of o.installed ?? []) {
      const pkg = add(info, 0, true)!;
      pkg.installedTag = this.tagIds.get(o.installedTags?.get(info.name) ?? '') ?? 0;
      this.installedPkgs.push(pkg);
    }
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
        installedPkg: null,
        installedName: null,
        state: 0,
        count: 0,
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
        throw new EibError('EREPO', `"${text}": no repository is tagged "${d.tag}"; tag one in alpine.repositories ("@${d.tag} URL") or drop "@${d.tag}"`, { exitCode: 2 });
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
      installedTag: 0,
      marked: false,
      state: 0,
      genid: 0,
    };
    name.providers.push({ pkg, version: pkg.version });
    for (const p of pkg.provides) p.name.providers.push({ pkg, version: p.version });
    // A package's provided names depend on what it depends on, too: a
    // dependency going bad must reach a requirer of so:… or pc:… names.
    const dependents = [name, ...pkg.provides.map((p) => p.name)];
    for (const d of pkg.depends) for (const n of dependents) if (!d.name.rdepends.includes(n)) d.name.rdepends.push(n);
    for (const d of pkg.installIf) for (const n of dependents) if (!d.name.rinstallIf.includes(n)) d.name.rinstallIf.push(n);
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
    return pkg.repos | (pkg.installed ? this.tagRepos[pkg.installedTag]! : 0);
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
    // A package reached through a provided name (so:…, cmd:…) brings its
    // own name's install_if packages into view as well.
    for (const p of name.providers) for (const n of p.pkg!.name.rinstallIf) this.discover(n);
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
        // A package that only provides the name without a version (a virtual)
        // is not picked automatically unless it has a provider_priority: the
        // user names the provider (apk-tools 2.14).
        if (p.version === null && pkg.name.requirers === 0 && pkg.priority === 0) continue;
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

  /**
   * Which unresolved name to settle next when none is forced: a name only
   * install_if brings in comes before one with requirers, so a triggered
   * install_if package can settle a choice among providers (apk-tools
   * 2.14.4 does so: vector installif10), then the longest dependency chain.
   */
  private static dequeueOrder(a: Name, b: Name): number {
    const r = num(a.requirers > 0) - num(b.requirers > 0);
    if (r) return r;
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

  // --- changeset (apk-tools src/solver.c generate_changeset) -----------------

  private readonly changes: { old: Pkg | null; new: Pkg | null; tag: number }[] = [];

  /** The first tag whose repositories hold the package among those its pinning allows (get_tag). */
  private tagOf(pkg: Pkg): number {
    const repos = this.pkgRepos(pkg);
    for (let i = 0; i < this.tagRepos.length; i++) {
      if (pkg.pinningAllowed & (1 << i) && this.tagRepos[i]! & repos) return i;
    }
    return 0;
  }

  private record(old: Pkg | null, pkg: Pkg | null): void {
    this.changes.push({ old, new: pkg, tag: pkg ? this.tagOf(pkg) : 0 });
  }

  private trackDepsAdded(pkg: Pkg): void {
    for (const d of pkg.depends) if (!d.conflict && d.name.installedName) d.name.installedName.requirers++;
  }

  private trackDepsRemoved(pkg: Pkg): void {
    for (const d of pkg.depends) {
      if (d.conflict || !d.name.installedName) continue;
      if (--d.name.installedName.requirers > 0) continue;
      if (d.name.installedPkg) this.genNameRemove(d.name.installedPkg);
    }
  }

  /** An installed package nothing requires any more, and whose name nothing else provides now. */
  private checkRemovalByDeps(pkg: Pkg): void {
    if (pkg.name.requirers === 0 && pkg.name.chosen.pkg === null) this.genNameRemove(pkg);
  }

  private checkInstallByIif(name: Name): void {
    const pkg = name.chosen.pkg;
    if (!pkg || !name.seen || name.inChangeset) return;
    for (const d of pkg.installIf) {
      if (!d.name.inChangeset || !provided(d, d.name.chosen)) return;
    }
    this.genNameChange(name);
  }

  private checkRemovalByIif(name: Name): void {
    const pkg = name.installedPkg;
    if (!pkg || name.inChangeset || name.chosen.pkg) return;
    for (const d of pkg.installIf) {
      if (d.name.inChangeset && d.name.chosen.pkg === null) {
        this.checkRemovalByDeps(pkg);
        return;
      }
    }
  }

  private genNameRemoveOrphan(name: Name): void {
    const pkg = name.chosen.pkg;
    if (name.inChangeset) return;
    name.inChangeset = true;
    if ((!pkg || pkg.name !== name) && name.installedPkg) this.genNameRemove(name.installedPkg);
  }

  private genNameChange(name: Name): void {
    if (name.inChangeset) return;
    this.genNameRemoveOrphan(name);
    const pkg = name.chosen.pkg;
    if (!pkg || pkg.inChangeset) return;
    pkg.inChangeset = true;
    this.genNameRemoveOrphan(pkg.name);
    for (const d of pkg.provides) this.genNameRemoveOrphan(d.name);
    const old = pkg.name.installedPkg;
    if (old) for (const n of old.name.rinstallIf) this.checkRemovalByIif(n);
    for (const d of pkg.depends) this.genDep(pkg, d);
    this.record(old, pkg);
    for (const n of pkg.name.rinstallIf) this.checkInstallByIif(n);
    this.trackDepsAdded(pkg);
    if (old) this.trackDepsRemoved(old);
  }

  private genNameRemove(pkg: Pkg): void {
    const name = pkg.name;
    if (pkg.inChangeset || (name.chosen.pkg !== null && name.chosen.pkg.name === name)) return;
    name.inChangeset = true;
    pkg.inChangeset = true;
    // Installed packages that depend on it go first.
    this.forEachReverseDependency(pkg, (pkg0, dep) => pkg0.installed && provided(dep, this.providerOf(pkg, dep.name)!), (pkg0) => this.genNameRemove(pkg0));
    for (const n of name.rinstallIf) this.checkRemovalByIif(n);
    this.record(pkg, null);
    this.trackDepsRemoved(pkg);
  }

  /** How `pkg` provides `name` (itself or one of its provides), if it does. */
  private providerOf(pkg: Pkg, name: Name): Provider | undefined {
    if (pkg.name === name) return { pkg, version: pkg.version };
    const p = pkg.provides.find((d) => d.name === name);
    return p ? { pkg, version: p.version } : undefined;
  }

  /**
   * apk_pkg_foreach_reverse_dependency: every package of a name that depends
   * on `pkg`'s name or one of its provides, with each such dependency that
   * `accept` takes.
   */
  private forEachReverseDependency(pkg: Pkg, accept: (pkg0: Pkg, dep: Dep) => boolean, fn: (pkg0: Pkg, dep: Dep) => void, genid = 0): void {
    for (const name of [pkg.name, ...pkg.provides.map((p) => p.name)]) {
      for (const n0 of name.rdepends) {
        for (const p0 of n0.providers) {
          const pkg0 = p0.pkg!;
          if (genid !== 0) {
            if (pkg0.genid >= genid) continue;
            pkg0.genid = genid;
          }
          for (const d of pkg0.depends) if (this.providerOf(pkg, d.name) && accept(pkg0, d)) fn(pkg0, d);
        }
      }
    }
  }

  private genDep(parent: Pkg | null, dep: Dep): void {
    if (!provided(dep, dep.name.chosen)) this.markError(parent);
    this.genNameChange(dep.name);
    if (dep.name.chosen.pkg?.error) this.markError(parent);
  }

  changeset(world: Dep[]): Solver['changes'] {
    for (const name of this.names.values()) {
      name.installedPkg = null;
      name.installedName = null;
      name.requirers = 0;
    }
    for (const pkg of this.installedPkgs) {
      pkg.name.installedPkg = pkg;
      pkg.name.installedName = pkg.name;
      for (const d of pkg.provides) if (d.version !== null) d.name.installedName = pkg.name;
    }
    for (const pkg of this.installedPkgs) this.trackDepsAdded(pkg);
    for (const pkg of this.installedPkgs) this.checkRemovalByDeps(pkg);
    for (const d of world) this.genDep(null, d);
    for (const pkg of this.installedPkgs) this.genNameChange(pkg.name);
    return this.changes;
  }

  get failed(): boolean {
    return this.errors > 0;
  }

  tagName(id: number): string {
    for (const [tag, i] of this.tagIds) if (i === id) return tag;
    return '';
  }

  // --- explaining failures (apk-tools src/commit.c apk_solver_print_errors) --

  /**
   * apk's report of an unsatisfiable world, line for line: each missing name
   * ("(no such package)", or "(virtual)" with its providers when one must be
   * chosen) and each chosen package that cannot stay ("masked in:",
   * "conflicts:", "breaks:", and what it "satisfies:"), without apk's line
   * wrapping.
   */
  report(world: Dep[]): string[] {
    const lines: string[] = [];
    for (const c of this.changes) if (c.new) c.new.marked = true;
    this.discoverDeps(world);
    let genid = 0;
    let label: string | null = null;
    let current: string[] | null = null;
    const item = (group: string, text: string): void => {
      if (label !== null) {
        lines.push(`  ${label}:`);
        label = null;
      }
      if (current === null || current[0] !== group) {
        current = [group];
        lines.push('');
      }
      current.push(text);
      lines[lines.length - 1] = `    ${current.join(' ')}`;
    };
    const end = (): void => {
      current = null;
    };
    const depText = (d: Dep): string => d.text;
    const pkgText = (p: Pkg): string => `${p.name.name}-${p.version}`;

    const analyzeMissingName = (name: Name): void => {
      if (name.providers.length > 0) {
        label = `${name.name} (virtual)`;
        item('note:', "please select one of the 'provided by' packages explicitly");
        end();
        for (const p of name.providers) p.pkg!.name.count++;
        for (const p of name.providers) {
          const n0 = p.pkg!.name;
          if (n0.count === n0.providers.length) {
            item('provided by:', n0.name);
            n0.count = 0;
          } else if (n0.count > 0) {
            item('provided by:', pkgText(p.pkg!));
            n0.count--;
          }
        }
        end();
      } else {
        label = `${name.name} (no such package)`;
      }
      for (const d of world) if (d.name === name && !d.conflict) item('required by:', `world[${depText(d)}]`);
      genid++;
      for (const n0 of name.rdepends) {
        for (const p0 of n0.providers) {
          const pkg0 = p0.pkg!;
          if (!pkg0.marked || pkg0.genid >= genid) continue;
          pkg0.genid = genid;
          const d0 = pkg0.depends.find((d) => d.name === name && !d.conflict);
          if (d0) item('required by:', `${pkgText(pkg0)}[${depText(d0)}]`);
          break;
        }
      }
      end();
    };

    const analyzeDeps = (deps: Dep[]): void => {
      for (const d of deps) {
        if (d.conflict || (d.name.state & (STATE_INSTALLIF | STATE_PRESENT | STATE_MISSING)) !== 0) continue;
        d.name.state |= STATE_MISSING;
        analyzeMissingName(d.name);
      }
    };

    const printDeps = (pkg: Pkg, satisfied: boolean): void => {
      const group = satisfied ? 'satisfies:' : 'breaks:';
      genid++;
      const matches = (d: Dep): boolean => {
        const p = this.providerOf(pkg, d.name);
        return p !== undefined && provided(d, p) === satisfied;
      };
      for (const d of world) if (matches(d)) item(group, `world[${depText(d)}]`);
      this.forEachReverseDependency(
        pkg,
        (pkg0, d) => pkg0.marked && matches(d),
        (pkg0, d) => item(group, `${pkgText(pkg0)}[${depText(d)}]`),
        genid,
      );
      end();
    };

    const analyzePackage = (pkg: Pkg, tag: number): void => {
      label = pkgText(pkg);
      // Pinning: the package is only in repositories its pinning does not allow.
      if (!pkg.installed && (pkg.repos & this.maskRepos(DEFAULT_PINNING | (1 << tag))) === 0) {
        this.tagRepos.forEach((repos, i) => {
          if (pkg.repos & repos) item('masked in:', `@${this.tagName(i)}`);
        });
        end();
      }
      for (const p of pkg.name.providers) {
        if (p.pkg !== pkg && p.pkg!.marked) item('conflicts:', pkgText(p.pkg!));
      }
      for (const d of pkg.provides) {
        let once = true;
        for (const p of d.name.providers) {
          if (!p.pkg!.marked) continue;
          if (d.version === null && p.version === null) continue;
          if (once && p.pkg === pkg && p.version === d.version) {
            once = false;
            continue;
          }
          item('conflicts:', `${pkgText(p.pkg!)}[${d.name.name}${d.version === null ? '' : `=${d.version}`}]`);
        }
      }
      end();
      printDeps(pkg, false);
      if (label === null) printDeps(pkg, true);
      label = null;
    };

    analyzeDeps(world);
    for (const c of this.changes) {
      if (!c.new) continue;
      analyzePackage(c.new, c.tag);
      analyzeDeps(c.new.depends);
    }
    if (lines.length === 0) lines.push('a requirement cannot be met (apk reports no broken constraint either)');
    return lines;
  }

  private discoverName(name: Name, pkgState: number): void {
    for (const p of name.providers) {
      const pkg = p.pkg!;
      let state = pkgState;
      if (!pkg.marked) continue;
      const concrete = pkg.name === name || pkg.provides.some((d) => d.name === name && d.version !== null);
      if ((state === STATE_PRESENT || state === STATE_INSTALLIF) && pkg.priority === 0 && !concrete) state = STATE_VIRTUAL_ONLY;
      if (pkg.state & state) continue;
      pkg.state |= state;
      pkg.name.state |= state;
      for (const d of pkg.provides) d.name.state |= state === STATE_INSTALLIF && d.version === null ? STATE_VIRTUAL_ONLY : state;
      this.discoverDeps(pkg.depends);
      if (state === STATE_PRESENT || state === STATE_INSTALLIF) {
        this.discoverReverseIif(pkg.name);
        for (const d of pkg.provides) this.discoverReverseIif(d.name);
      }
    }
  }

  private discoverReverseIif(name: Name): void {
    for (const n0 of name.rinstallIf) {
      for (const p of n0.providers) {
        const pkg = p.pkg!;
        if (!pkg.marked || pkg.installIf.length === 0) continue;
        if (pkg.installIf.some((d) => d.conflict === ((d.name.state & (STATE_PRESENT | STATE_INSTALLIF)) !== 0))) continue;
        this.discoverName(pkg.name, STATE_INSTALLIF);
        for (const d of pkg.provides) this.discoverName(d.name, STATE_INSTALLIF);
      }
    }
  }

  private discoverDeps(deps: Dep[]): void {
    for (const d of deps) if (!d.conflict) this.discoverName(d.name, STATE_PRESENT);
  }
}

const STATE_PRESENT = 1;
const STATE_MISSING = 2;
const STATE_VIRTUAL_ONLY = 4;
const STATE_INSTALLIF = 8;

function run(options: SolveOptions): { changes: Change[]; chosen: PackageInfo[] } {
  const solver = new Solver(options);
  const world = [...options.world]
    .map((w) => solver.dep(w, true))
    // apk sorts the world by name (strcmp) before solving.
    .sort((a, b) => (a.name.name < b.name.name ? -1 : a.name.name > b.name.name ? 1 : 0));
  solver.run(world);
  const changes = solver.changeset(world);
  if (solver.failed) throw new SolverError(solver.report(world));
  return {
    changes: changes.map((c) => {
      const change: Change = { tag: solver.tagName(c.tag) };
      if (c.old) change.old = c.old.info;
      if (c.new) change.new = c.new.info;
      return change;
    }),
    chosen: changes.flatMap((c) => (c.new ? [c.new.info] : [])),
  };
}

/**
 * Resolve `world` against the repositories: every package the world needs,
 * already-installed ones included, in apk's install order (dependencies
 * before dependents). Throws SolverError ('EUNSATISFIABLE') with apk's
 * report of what cannot be selected.
 */
export function solve(options: SolveOptions): PackageInfo[] {
  return run(options).chosen;
}

/**
 * What `apk add` does to a root holding `options.installed` to reach
 * `options.world`, in apk's order: only real changes (an installed package
 * that stays as it is does not appear).
 */
export function planChanges(options: SolveOptions): Change[] {
  const changes = run(options).changes.filter((c) => c.old !== c.new || (c.new !== undefined && c.tag !== (options.installedTags?.get(c.new.name) ?? '')));
  // apk commits removals before anything else.
  return [...changes.filter((c) => !c.new), ...changes.filter((c) => c.new)];
}

/** A change as apk prints it: "Installing a (2)", "Upgrading b (1 -> 2)", "Purging c (3)". */
export function describeChange(c: Change): string {
  const name = (p: PackageInfo): string => `${p.name}${c.tag ? `@${c.tag}` : ''}`;
  if (!c.old) return `Installing ${name(c.new!)} (${c.new!.version})`;
  if (!c.new) return `Purging ${c.old.name} (${c.old.version})`;
  if (c.old === c.new) return `Updating pinning ${name(c.new)} (${c.new.version})`;
  const r = compareVersions(c.new.version, c.old.version);
  const verb = r > 0 ? 'Upgrading' : r < 0 ? 'Downgrading' : 'Replacing';
  return `${verb} ${name(c.new)} (${c.old.version} -> ${c.new.version})`;
}
