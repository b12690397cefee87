/**
 * eib push of a built image to a local registry (Debian's docker-registry),
 * against `skopeo copy oci:… docker://…` of the same layout. Every run
 * pushes to a new, empty registry, so both sides send every blob (skopeo
 * would otherwise mount blobs it remembers from an earlier run).
 */
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../../test/helpers/registry.js';
import { runEibCli, runShell, type BenchContext, type Contender } from '../harness.js';

/** The two contenders for pushing the image that `project(ctx)` has built in out/oci (tag latest). */
export function pushContenders(registry: BenchRegistry, project: (ctx: BenchContext) => string, tag = 'latest'): Contender[] {
  return [
    { name: 'eib push', role: 'eib', run: (ctx) => runEibCli(project(ctx), ['push', `${registry.get().host}/bench:${tag}`, '--quiet']), after: () => registry.restart() },
    {
      name: 'skopeo copy oci: docker://',
      role: 'baseline',
      run: (ctx) => runShell(`skopeo copy -q --dest-tls-verify=false 'oci:${join(project(ctx), 'out', 'oci')}:${tag}' 'docker://${registry.get().host}/bench:${tag}'`),
      after: () => registry.restart(),
    },
  ];
}

export interface BenchRegistry {
  get(): TestRegistry;
  start(): Promise<void>;
  /** A new registry with empty storage on a new port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A registry started in setup and stopped in teardown. */
export function benchRegistry(): BenchRegistry {
  let registry: TestRegistry | undefined;
  return {
    async restart() {
      await this.stop();
      await this.start();
    },
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
