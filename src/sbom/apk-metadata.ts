/**
 * The index fields of an installed package (lib/apk/db/installed keeps them
 * as written: C: P: V: A: S: I: T: U: L: o: m: t: c: k: D: p: i:), as the
 * values an SBOM needs.
 */
import type { InstalledPackage } from '../apk/database.js';

export interface ApkMetadata {
  name: string;
  version: string;
  /** C: "Q1" + base64(sha1) of the control segment, or "Q2" + base64(sha256). */
  checksum: string;
  arch?: string;
  description?: string;
  url?: string;
  license?: string;
  origin?: string;
  maintainer?: string;
  /** t: seconds since the epoch. */
  buildTime?: number;
  commit?: string;
  providerPriority: number;
  depends: string[];
  provides: string[];
}

export function apkMetadata(pkg: InstalledPackage): ApkMetadata {
  const field = new Map<string, string>();
  for (const line of pkg.indexLines) field.set(line[0]!, line.slice(2));
  const words = (key: string): string[] => (field.get(key) ?? '').split(/\s+/).filter((w) => w !== '');
  const meta: ApkMetadata = {
    name: pkg.name,
    version: pkg.version,
    checksum: pkg.checksum,
    providerPriority: Number(field.get('k') ?? 0) || 0,
    depends: words('D'),
    provides: words('p'),
  };
  const text = (key: string): string | undefined => {
    const v = field.get(key)?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const set = <K extends keyof ApkMetadata>(key: K, value: ApkMetadata[K] | undefined): void => {
    if (value !== undefined) meta[key] = value;
  };
  set('arch', text('A'));
  set('description', text('T'));
  set('url', text('U'));
  set('license', text('L'));
  set('origin', pkg.origin ?? text('o'));
  set('maintainer', text('m'));
  set('commit', text('c'));
  const t = text('t');
  if (t !== undefined && /^\d+$/.test(t)) meta.buildTime = Number(t);
  return meta;
}

/** C: → an SPDX checksum: Q1 is base64 SHA-1, Q2 base64 SHA-256; anything else has none. */
export function apkChecksum(checksum: string): { algorithm: 'SHA1' | 'SHA256'; hex: string } | undefined {
  const kind = checksum.slice(0, 2);
  const bytes = Buffer.from(checksum.slice(2), 'base64');
  if (kind === 'Q1' && bytes.length === 20) return { algorithm: 'SHA1', hex: bytes.toString('hex') };
  if (kind === 'Q2' && bytes.length === 32) return { algorithm: 'SHA256', hex: bytes.toString('hex') };
  return undefined;
}
