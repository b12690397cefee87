#!/usr/bin/env node
// The CLI runs from its one-file bundle with a V8 code cache: see src/cli/launch.ts.
import { fileURLToPath } from 'node:url';
import { launch } from '../dist/src/cli/launch.js';

await launch(fileURLToPath(new URL('../dist/eib.cjs', import.meta.url)), { argv: process.argv.slice(2) });
