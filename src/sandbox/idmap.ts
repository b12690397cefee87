/**
 * How ids are mapped into the namespace. With subordinate ranges (and the
 * setuid newuidmap/newgidmap helpers) root maps to the user and 1–65535 to
 * the ranges, so files keep their owners; without them only root exists
 * inside, and files owned by other users end up owned by root.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { findTool } from '../fs/tool.js';

export type IdMapKind =
  /** eib runs as real root: no user namespace needed. */
  | 'host-root'
  /** root → the user, 1–65535 → its subordinate ranges. */
  | 'subordinate'
  /** root → the user only. */
  | 'single';

export interface IdRange {
  start: number;
  count: number;
}

/** The ranges /etc/subuid or /etc/subgid gives `user` (by name or uid). */
export function subordinateRanges(file: string, user: { name: string; id: number }): IdRange[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const ranges: IdRange[] = [];
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner === undefined || start === undefined || count === undefined) continue;
    if (owner !== user.name && owner !== String(user.id)) continue;
    const range = { start: Number(start), count: Number(count) };
    if (Number.isSafeInteger(range.start) && Number.isSafeInteger(range.count) && range.count > 0) ranges.push(range);
  }
  return ranges;
}

export interface IdMapPlan {
  kind: IdMapKind;
  /** Why the full mapping is not available (kind 'single'), with the fix. */
  reason?: string;
}

/** Decide the mapping for the current user. */
export function planIdMap(): IdMapPlan {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return { kind: 'host-root' };
  const info = userInfo();
  const gid = process.getgid?.() ?? info.gid;
  const missing: string[] = [];
  if (subordinateRanges('/etc/subuid', { name: info.username, id: uid }).length === 0) missing.push('no range in /etc/subuid');
  if (subordinateRanges('/etc/subgid', { name: info.username, id: gid }).length === 0 && subordinateRanges('/etc/subgid', { name: info.username, id: uid }).length === 0) {
    missing.push('no range in /etc/subgid');
  }
  if (findTool('newuidmap') === undefined || findTool('newgidmap') === undefined) missing.push('newuidmap/newgidmap not found (package uidmap)');
  if (missing.length === 0) return { kind: 'subordinate' };
  return {
    kind: 'single',
    reason:
      `${missing.join(', ')} for user ${info.username}; files owned by other users will end up owned by root. ` +
      `Fix: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${info.username} (and install uidmap)`,
  };
}
