/**
 * Normalizing entry paths read from a layer. Anything that would land
 * outside the root once normalized is rejected (image-spec layer.md: paths
 * are relative to the root; never trust a layer to say otherwise).
 */
import { posix } from 'node:path';
import { LayerError } from './errors.js';

/** "" for the root itself; otherwise a relative path without "./", "//" or a trailing "/". */
export function normalizeEntryPath(raw: string, where: string): string {
  if (raw.includes('\0')) throw escapes(raw, where);
  const p = posix.normalize(raw).replace(/\/+$/, '');
  if (p === '.' || p === '') return '';
  if (p.startsWith('/') || p === '..' || p.startsWith('../')) throw escapes(raw, where);
  return p;
}

function escapes(raw: string, where: string): LayerError {
  const shown = JSON.stringify(Buffer.from(raw, 'latin1').toString('utf8'));
  return new LayerError('ELAYERPATH', `${where}: entry path ${shown} points outside the root filesystem; the layer is malformed or malicious, rebuild it`);
}

/** Strict ancestors of a normalized path, nearest last: "a/b/c" → ["a", "a/b"]. */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  let i = path.indexOf('/');
  while (i >= 0) {
    out.push(path.slice(0, i));
    i = path.indexOf('/', i + 1);
  }
  if (path !== '') out.unshift('');
  return out;
}
