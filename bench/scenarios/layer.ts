/** Layer creation: eib's writeLayer against GNU tar | gzip -6 | sha256sum on the same tree. */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runEibChild, runShell, type Scenario } from '../harness.js';
import { ensureBenchTree } from '../tree.js';

export const layerScenario: Scenario = {
  name: 'layer',
  description: 'create a gzip layer from a ~200 MB tree',
  async setup(ctx) {
    ensureBenchTree(join(ctx.workDir, '..', 'tree'));
  },
  contenders: [
    {
      name: 'eib writeLayer',
      role: 'eib',
      run: (ctx) => runEibChild('write-layer', [join(ctx.workDir, '..', 'tree'), join(ctx.workDir, 'store')]),
      after: (ctx) => rm(join(ctx.workDir, 'store'), { recursive: true, force: true }),
    },
    {
      name: 'tar --sort=name | gzip -6 | sha256sum',
      role: 'baseline',
      run: (ctx) => runShell(`tar --sort=name --numeric-owner -C '${join(ctx.workDir, '..', 'tree')}' -cf - . | gzip -6 | sha256sum >/dev/null`),
    },
  ],
};
