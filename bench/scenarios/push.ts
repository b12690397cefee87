/**
 * eib push of a built image to a local registry (Debian's docker-registry),
 * against `skopeo copy oci:… docker://…` of the same layout. Every run
 * pushes to a new repository, so both sides send every blob.
 */
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../../test/helpers/registry.js';
import { runEibCli, runShell, type BenchContext, type Contender } from '../harness.js';

/** The two contenders for pushing the image that `project(ctx)` has built in out/oci (tag latest). */
export function pushContenders(registry: () => TestRegistry, project: (ctx: BenchContext) => string, tag = 'latest'): Contender[] {
  let n = 0;
  return [
    { name: 'eib push', role: 'eib', run: (ctx) => runEibCli(project(ctx), ['push', `${registry().host}/eib-${++n}:${tag}`, '--quiet']) },
    {
      name: 'skopeo copy oci: docker://',
      role: 'baseline',
      run: (ctx) => runShell(`skopeo copy -q --dest-tls-verify=false 'oci:${join(project(ctx), 'out', 'oci')}:${tag}' 'docker://${registry().host}/skopeo-${++n}:${tag}'`),
    },
  ];
}

/** A registry started in setup and stopped in teardown. */
export function benchRegistry(): { get(): TestRegistry; start(): Promise<void>; stop(): Promise<void> } {
  let registry: TestRegistry | undefined;
  return {
    get() {
      if (!registry) throw new Error('bench registry not started');
      return registry;
    },
    async start() {
      registry ??= await startRegistry();
    },
    async stop() {
      await registry?.stop();
      registry = undefined;
    },
  };
}
