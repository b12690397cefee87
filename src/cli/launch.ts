/**
 * How the `eib` executable starts: it runs the CLI from its one-file
 * bundle (dist/eib.cjs, written by `npm run build`), compiled with a V8
 * code cache.
 *
 * Why: Node 20 has no compile cache, and loading the CLI as ~250 separate
 * modules (oclif and its dependencies, eib's own) cost more than half of a
 * no-op build. One script whose compiled code comes from a cache starts in
 * about a third of that time.
 *
 * The cache is kept per command (`eib build` compiles other functions than
 * `eib --version`), under the default cache folder in `startup/`, named by
 * the bundle and its sha256 (V8 checks only the source's length), the
 * Node version and the arch. It is written once, after the command succeeded,
 * so that it holds the functions the command compiled on the way; V8
 * rejects a cache that does not fit, and a rejected or unreadable cache
 * only costs the compilation it would have saved. Only this module
 * touches it and nothing else reads it, so `eib gc` and `eib cache verify`
 * leave it alone.
 *
 * Only Node builtins and two small modules are loaded before the bundle.
 */
import { readdirSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { constants as vmConstants, Script } from 'node:vm';
import { defaultCacheDir } from '../config/paths.js';

/** What the bundle exports (src/cli/main.ts). */
interface Bundle {
  main(bundle: string, argv: string[]): Promise<unknown>;
  namespaceEntry(bundle: string, beforeExit: () => Promise<void>): void;
}

/** The CLI with its arguments, or the namespace entry (which exits by itself when its task is done). */
export type LaunchTarget = { argv: string[] } | { entry: 'namespace' };

/** The command word of argv (`build`, `cache`), or `cli` for flags alone (--version, --help). */
export function commandWord(argv: readonly string[]): string {
  const word = argv.find((a) => !a.startsWith('-'));
  return word !== undefined && /^[a-z][a-z0-9-]{0,31}$/.test(word) ? word : 'cli';
}

function readIfPresent(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** Run the CLI in `bundle` (an absolute path) with `argv` (the arguments after the executable), or its namespace entry. */
export async function launch(bundle: string, target: LaunchTarget): Promise<void> {
  const source = readFileSync(bundle, 'utf8');
  const digest = readFileSync(`${bundle}.sha256`, 'utf8').trim().slice(0, 16);
  const folder = join(defaultCacheDir(process.env), 'startup');
  const name = basename(bundle, '.cjs');
  const cacheFile = join(folder, `${name}-${digest}-${process.version}-${process.arch}-${'argv' in target ? commandWord(target.argv) : 'namespace-entry'}.v8`);
  const cached = readIfPresent(cacheFile);

  // A CommonJS wrapper of our own rather than Node's internal one; the bundle
  // is registered as a module so that oclif's require() of it (the explicit
  // command table in package.json) gets these exports.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    ...(cached ? { cachedData: cached } : {}),
    importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = new Module(bundle);
  module.filename = bundle;
  const require = createRequire(bundle);
  module.paths = require.resolve.paths('eib') ?? [];
  (require.cache as Record<string, unknown>)[bundle] = module;
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, require, module, bundle, dirname(bundle));
  module.loaded = true;

  const exports = module.exports as Bundle;
  const writeCache = async (): Promise<void> => {
    if (cached !== undefined && script.cachedDataRejected !== true) return;
    try {
      mkdirSync(folder, { recursive: true });
      // Caches of this bundle's earlier builds (an older eib) are of no use any more.
      for (const file of readdirSync(folder)) if (file.startsWith(`${name}-`) && !file.startsWith(`${name}-${digest}-`)) rmSync(join(folder, file), { force: true });
      // Loaded here only: the atomic writer pulls in node:crypto, which a start with a cache does not need.
      const { writeFileAtomic } = await import('../fs/atomic-write.js');
      await writeFileAtomic(cacheFile, script.createCachedData());
    } catch {
      // A read-only or full home only means the next start compiles again.
    }
  };
  if ('argv' in target) {
    await exports.main(bundle, target.argv);
    await writeCache();
  } else {
    // The entry ends its process itself once its task is done.
    exports.namespaceEntry(bundle, writeCache);
  }
}
