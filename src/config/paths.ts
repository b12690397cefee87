/** How paths written in eib.yaml become absolute host paths. */
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** The home directory `~/` stands for: $HOME, else the account's. */
export function homeDir(env: NodeJS.ProcessEnv): string {
  return env['HOME'] || homedir();
}

/** $XDG_CACHE_HOME/eib when that is an absolute path (as the XDG spec requires), else ~/.cache/eib. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  const xdg = env['XDG_CACHE_HOME'];
  return xdg && xdg.startsWith('/') ? join(xdg, 'eib') : join(homeDir(env), '.cache', 'eib');
}

/**
 * An absolute path for `value`: `~` and `~/…` are the home directory,
 * anything else is relative to `dir` (the config's folder). With
 * `keepTrailingSlash` a trailing slash stays, since it means "the
 * directory's contents" to `files`.
 */
export function expandPath(value: string, dir: string, home: string, options: { keepTrailingSlash?: boolean } = {}): string {
  let path: string;
  if (value === '~') path = home;
  else if (value.startsWith('~/')) path = join(home, value.slice(2));
  else path = isAbsolute(value) ? resolve(value) : resolve(dir, value);
  return options.keepTrailingSlash && value.endsWith('/') && !path.endsWith('/') ? `${path}/` : path;
}

/** http(s) URLs are fetched; everything else in repositories is a local path. */
export function isHttpUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

export type PathKind = 'file' | 'directory' | 'other' | 'missing';

/** What is at `path`; a trailing slash does not change the answer (a file is still a file). */
export async function pathKind(path: string): Promise<PathKind> {
  try {
    const st = await stat(path.length > 1 ? path.replace(/\/+$/, '') : path);
    return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}
