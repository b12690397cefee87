/**
 * Alpine releases as a configuration key: `alpine.release: v3.20` (or
 * `edge`) names the official main and community repositories of that
 * release on `alpine.mirror` (default the CDN), trusted with Alpine's public
 * signing keys, which eib ships in data/alpine-keys (see its README for how
 * they are kept up to date).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DEFAULT_ALPINE_MIRROR = 'https://dl-cdn.alpinelinux.org/alpine';

/** The repositories of an Alpine release, searched in this order. */
export const RELEASE_REPOSITORIES = ['main', 'community'] as const;

/** `v3.20`, `v3.21`, … or `edge`. */
export const RELEASE_PATTERN = /^(v\d+\.\d+|edge)$/;

/** The folder of Alpine's public keys shipped with eib (beside dist/ and schemas/). */
export const ALPINE_KEYS_DIR =
  ['../../../data/alpine-keys', '../../data/alpine-keys'].map((relative) => fileURLToPath(new URL(relative, import.meta.url))).find((path) => existsSync(path)) ??
  fileURLToPath(new URL('../../../data/alpine-keys', import.meta.url));

/** The repository URLs of `release` on `mirror` (each holds <arch>/APKINDEX.tar.gz). */
export function releaseRepositories(release: string, mirror: string = DEFAULT_ALPINE_MIRROR): string[] {
  const base = mirror.replace(/\/+$/, '');
  return RELEASE_REPOSITORIES.map((repo) => `${base}/${release}/${repo}`);
}
