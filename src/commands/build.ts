import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { buildProgress } from '../cli/build-progress.js';
import { loadConfig } from '../config/load.js';
import type { StageResult } from '../pipeline/pipeline.js';
import { formatBytes } from '../fs/byte-size.js';

function stageSummary(s: StageResult): Record<string, unknown> {
  return { name: s.name, key: s.key, layer: s.layer?.digest ?? null, size: s.size, cached: s.cached, source: s.source, durationMs: s.durationMs, ...(s.explain ? { explain: s.explain } : {}) };
}

export default class Build extends BaseCommand {
  static override summary = 'Build every stage of eib.yaml into an OCI image, reusing cached checkpoints.';
  static override examples = ['<%= config.bin %> build', '<%= config.bin %> build --json', '<%= config.bin %> build --explain'];
  static override flags = {
    offline: Flags.boolean({ summary: 'Use only cached repository indexes and packages.', default: false }),
    explain: Flags.boolean({ summary: 'Say for every stage that is not cached which input changed since its newest cached checkpoint.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parseWithOutput(Build);
    const { build } = await import('../pipeline/pipeline.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    const interrupt = this.interruptSignal();
    const abort = { signal: interrupt.signal };
    try {
      const result = await build(config, {
        offline: flags.offline,
        explain: flags.explain,
        signal: abort.signal,
        events: buildProgress(this.out, config.arch.length > 1),
      });
      // The exporter is loaded only when eib.yaml names outputs to write.
      const { rootfs, ext4, squashfs, erofs, initramfs, disk } = config.outputs;
      const wanted = [rootfs, ext4, squashfs, erofs, initramfs, disk].some((o) => o !== undefined);
      const outputs = wanted
        ? await (await import('../export/export.js')).exportOutputs(config, {
            built: new Map(result.arches.map((a) => [a.arch, a.image])),
            signal: abort.signal,
            onProgress: (e) => e.phase === 'done' && this.out.info(`wrote ${e.path}`),
          })
        : [];
      for (const a of result.arches) {
        const rootfs = a.rootfsBytes === undefined ? '' : `, rootfs ${formatBytes(a.rootfsBytes)} of at most ${formatBytes(config.outputs.maxSize!)}`;
        this.out.info(`image${config.arch.length > 1 ? ` [${a.arch}]` : ''}: ${a.stages.filter((s) => s.layer).length} layers, ${formatBytes(a.layerBytes)} compressed${rootfs}`);
      }
      if (!result.reproducible) this.out.info('note: not reproducible (no epoch): set epoch in eib.yaml or $SOURCE_DATE_EPOCH for the same digest on every machine');
      const summary = {
        digest: result.image.digest,
        reproducible: result.reproducible,
        mediaType: result.image.mediaType,
        oci: config.outputs.oci,
        tag: config.outputs.tag,
        arches: result.arches.map((a) => ({
          arch: a.arch,
          manifest: a.manifest.digest,
          size: { layers: a.layerBytes, ...(a.rootfsBytes === undefined ? {} : { rootfs: a.rootfsBytes }) },
          stages: a.stages.map(stageSummary),
        })),
        stages: result.arches[0]?.stages.map(stageSummary) ?? [],
        outputs: outputs.map((o) => ({ path: o.path, format: o.format, bytes: o.bytes, arch: o.arch, ...(o.disk === undefined ? {} : { disk: o.disk }) })),
      };
      this.out.result(summary, `${config.outputs.oci}:${config.outputs.tag} ${result.image.digest}`);
    } finally {
      interrupt.dispose();
    }
  }
}
