/** image-spec layer.md#whiteouts: the names that mark deletions in a layer. */

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export type WhiteoutKind = { kind: 'opaque'; dir: string } | { kind: 'whiteout'; target: string } | { kind: 'meta' } | { kind: 'none' };

/** Classify a normalized layer path: an opaque marker, a whiteout of a sibling, or an ordinary entry. */
export function classifyWhiteout(path: string): WhiteoutKind {
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dir };
  if (base.startsWith(WHITEOUT_PREFIX)) {
    const name = base.slice(WHITEOUT_PREFIX.length);
    // Other ".wh..wh." names are AUFS bookkeeping, not whiteouts of real entries.
    if (name === '' || name.startsWith(WHITEOUT_PREFIX)) return { kind: 'meta' };
    return { kind: 'whiteout', target: dir === '' ? name : `${dir}/${name}` };
  }
  return { kind: 'none' };
}
