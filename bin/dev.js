#!/usr/bin/env node
// Development entry: rebuilds nothing itself; run `npm run build` (or tsc -w) beside it.
import { execute } from '@oclif/core';

await execute({ development: true, dir: import.meta.url });
