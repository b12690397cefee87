/**
 * `eib build --explain`: why a stage was not cached. Its cache-key inputs
 * are compared with those of the newest cached checkpoint of the same stage
 * name and arch: the parent, the keys of the stage definition, the host
 * files, the packages, the epoch and the layer format. Pure: the caller
 * finds the checkpoint.
 */
import type { Checkpoint } from '../store/checkpoints.js';
import type { StageInputs } from './cache-key.js';

export interface Change<T> {
  from: T;
  to: T;
}

export interface StageExplanation {
  /**
   * new: no earlier checkpoint of this stage and arch to compare with;
   * changed: inputs differ (below); missing: the same inputs, but the
   * checkpoint's layer or snapshot is gone from the cache.
   */
  reason: 'new' | 'changed' | 'missing';
  /** Cache key of the checkpoint compared with. */
  against?: string;
  /** The parent stage's key changed: it was rebuilt (or is another stage). */
  parent?: { stage: string | null };
  /** Keys of the stage definition in eib.yaml that changed. */
  keys: string[];
  hostFiles: { path: string; change: 'added' | 'removed' | 'changed' }[];
  packages: { name: string; from: string | null; to: string | null }[];
  epoch?: Change<number | null>;
  format?: Change<number>;
}

/** The newest checkpoint of `stage` for `arch` that recorded its inputs. */
export function newestCheckpoint(records: readonly Checkpoint[], stage: string, arch: string): Checkpoint | undefined {
  let best: Checkpoint | undefined;
  for (const cp of records) {
    if (cp.stage !== stage || cp.arch !== arch || cp.inputs === undefined) continue;
    if (!best || cp.created > best.created) best = cp;
  }
  return best;
}

export function explainStage(inputs: StageInputs, previous: Checkpoint | undefined, parentStage: string | null): StageExplanation {
  const out: StageExplanation = { reason: 'changed', keys: [], hostFiles: [], packages: [] };
  const old = previous?.inputs;
  if (!previous || !old) return { ...out, reason: 'new' };
  out.against = previous.key;
  if (old.parent !== inputs.parent) out.parent = { stage: parentStage };
  for (const key of new Set([...Object.keys(old.definition), ...Object.keys(inputs.definition)])) {
    if (JSON.stringify(old.definition[key]) !== JSON.stringify(inputs.definition[key])) out.keys.push(key);
  }
  for (const path of [...new Set([...Object.keys(old.hostFiles), ...Object.keys(inputs.hostFiles)])].sort()) {
    const a = old.hostFiles[path];
    const b = inputs.hostFiles[path];
    if (a === b) continue;
    out.hostFiles.push({ path, change: a === undefined ? 'added' : b === undefined ? 'removed' : 'changed' });
  }
  const before = new Map(old.packages.map(([name, version, checksum]) => [name, { version, checksum }]));
  const after = new Map(inputs.packages.map(([name, version, checksum]) => [name, { version, checksum }]));
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const a = before.get(name);
    const b = after.get(name);
    if (a && b && a.version === b.version && a.checksum === b.checksum) continue;
    out.packages.push({ name, from: a?.version ?? null, to: b?.version ?? null });
  }
  if (old.epoch !== inputs.epoch) out.epoch = { from: old.epoch, to: inputs.epoch };
  if (old.format !== inputs.format) out.format = { from: old.format, to: inputs.format };
  const changed = out.parent || out.keys.length || out.hostFiles.length || out.packages.length || out.epoch || out.format;
  if (!changed) out.reason = 'missing';
  return out;
}

/** The explanation as short clauses for a human ("run changed", "hello 1.0-r0 → 1.1-r0"). */
export function explanationText(e: StageExplanation): string[] {
  if (e.reason === 'new') return ['no earlier checkpoint of this stage to compare with'];
  if (e.reason === 'missing') return ['same inputs as a cached checkpoint whose layer or snapshot is gone from the cache'];
  const onlyParent = e.parent && e.keys.length === 0 && e.hostFiles.length === 0 && e.packages.length === 0 && !e.epoch && !e.format;
  const parent = e.parent ? `parent stage ${e.parent.stage ?? '(none)'} was rebuilt` : undefined;
  if (onlyParent) return [`rebuilt because its ${parent!}`];
  const lines: string[] = [];
  if (parent) lines.push(parent);
  if (e.keys.length) lines.push(`stage definition changed: ${e.keys.join(', ')}`);
  for (const f of e.hostFiles) lines.push(`host file ${f.path} ${f.change}`);
  for (const p of e.packages) lines.push(`package ${p.name} ${p.from ?? '(none)'} → ${p.to ?? '(removed)'}`);
  if (e.epoch) lines.push(`epoch ${e.epoch.from ?? '(none)'} → ${e.epoch.to ?? '(none)'}`);
  if (e.format) lines.push(`layer format ${e.format.from} → ${e.format.to}`);
  return lines;
}
