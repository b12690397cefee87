#!/usr/bin/env node
// Writes dist/eib.cjs, the CLI as one CommonJS file (oclif, eib, yaml,
// tar-stream), and dist/eib.cjs.sha256, which names its V8 code cache (see
// src/cli/launch.ts). `npm run build` runs it after tsc, from tsc's output.
//
// Each module keeps its own import.meta.url: it becomes the URL of the
// module's file in dist/, computed from the bundle's location, so that
// paths relative to a module (schemas/, data/, the namespace entry and the
// task modules it imports, which stay separate files) resolve as they do
// unbundled.
//
// Left out of the bundle: ajv (loaded only to explain an invalid eib.yaml)
// and typescript (oclif's optional support for .ts commands, unused).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const outfile = join(dist, 'eib.cjs');
const tmp = `${outfile}.tmp`;

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

await build({
  entryPoints: [join(dist, 'src', 'cli', 'main.js')],
  outfile: tmp,
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
const bytes = await readFile(tmp);
await writeFile(`${outfile}.sha256`, `${createHash('sha256').update(bytes).digest('hex')}\n`);
await rename(tmp, outfile);
