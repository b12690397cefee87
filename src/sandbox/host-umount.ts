/**
 * The host's umount, runnable after pivot_root has put the host's root
 * under a directory of the stage root. A dynamically linked binary would
 * look for its loader and libraries in the stage root, so it is started
 * through the host's loader with the host's library folders, all named
 * below that directory. Resolved once per process with ldd.
 */
import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { SandboxError } from './errors.js';
import { findTool } from '../fs/tool.js';

interface UmountLaunch {
  /** Absolute host paths: the loader (absent for a static binary) and the binary. */
  loader?: string;
  libraryDirs: string[];
  umount: string;
}

let cached: UmountLaunch | undefined;

function resolveLaunch(search: string): UmountLaunch {
  const found = findTool('umount', search);
  if (found === undefined) throw new SandboxError('EEXEC', 'umount was not found on PATH; install util-linux');
  const umount = realpathSync(found);
  const ldd = findTool('ldd', search);
  if (ldd === undefined) throw new SandboxError('EEXEC', 'ldd was not found on PATH; install libc-bin');
  let out: string;
  try {
    out = execFileSync(ldd, [umount], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    // "not a dynamic executable": a static umount runs anywhere.
    return { libraryDirs: [], umount };
  }
  let loader: string | undefined;
  const dirs = new Set<string>();
  for (const line of out.split('\n')) {
    const lib = /=>\s+(\/\S+)/.exec(line);
    if (lib) dirs.add(dirname(realpathSync(lib[1]!)));
    else {
      const interp = /^\s*(\/\S+)\s+\(/.exec(line);
      if (interp) loader = realpathSync(interp[1]!);
    }
  }
  if (loader === undefined) return { libraryDirs: [], umount };
  return { loader, libraryDirs: [...dirs], umount };
}

/**
 * [loader, library path, umount] as stage-root paths under `hostRoot`, for
 * `LOADER --library-path LIBS UMOUNT` (loader and libraries are empty for a
 * static umount).
 */
export function hostUmountLaunch(hostRoot: string, search: string): [string, string, string] {
  cached ??= resolveLaunch(search);
  const { loader, libraryDirs, umount } = cached;
  const under = (p: string): string => `${hostRoot}${p}`;
  return [loader === undefined ? '' : under(loader), libraryDirs.map(under).join(':'), under(umount)];
}
