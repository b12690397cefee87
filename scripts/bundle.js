#!/usr/bin/env node
// Writes two bundles, each one CommonJS file with a .sha256 beside it that
// names its V8 code cache (see src/cli/launch.ts): dist/eib.cjs, the CLI
// (oclif, eib, yaml, tar-stream), and dist/eib-namespace.cjs, the
// namespace entry with its tasks (no oclif: every stage starts it).
// `npm run build` runs it after tsc, from tsc's output.
//
// Each module keeps its own import.meta.url: it becomes the URL of the
// module's file in dist/, computed from the bundle's location, so that
// paths relative to a module (schemas/, data/, the launchers) resolve as
// they do unbundled, and a task's module URL is the same in both bundles.
//
// Left out of the bundle: ajv (loaded only to explain an invalid eib.yaml)
// and typescript (oclif's optional support for .ts commands, unused).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const staging = join(dist, '.bundles.tmp');
const bundles = { eib: join(dist, 'src', 'cli', 'main.js'), 'eib-namespace': join(dist, 'src', 'cli', 'namespace-entry.js') };

const moduleUrls = {
  name: 'module-urls',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const rel = relative(dist, args.path).split('\\').join('/');
      return { contents: text.replaceAll('import.meta.url', `__eibModuleUrl(${JSON.stringify(rel)})`), loader: 'js' };
    });
  },
};

await rm(staging, { recursive: true, force: true });
await build({
  entryPoints: bundles,
  outdir: staging,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['ajv', 'typescript'],
  plugins: [moduleUrls],
  banner: { js: 'const __eibModuleUrl = (rel) => require("node:url").pathToFileURL(require("node:path").join(__dirname, rel)).href;' },
  logLevel: 'warning',
  legalComments: 'none',
});
for (const name of Object.keys(bundles)) {
  const file = join(dist, `${name}.cjs`);
  const bytes = await readFile(join(staging, `${name}.cjs`));
  await writeFile(`${file}.sha256`, `${createHash('sha256').update(bytes).digest('hex')}\n`);
  await rename(join(staging, `${name}.cjs`), file);
}
await rm(staging, { recursive: true, force: true });
