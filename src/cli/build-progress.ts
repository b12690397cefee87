/**
 * Progress of a build for people: one line per stage as it starts and ends
 * (plain lines, so logs and CI read well), durations and layer sizes.
 */
import type { BuildEvents } from '../build/pipeline.js';
import type { Output } from './output.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function buildProgress(out: Output, multiArch: boolean): BuildEvents {
  return {
    stageStart({ arch, stage, index, total, cached }) {
      const where = multiArch ? ` [${arch}]` : '';
      if (!cached) out.info(`${out.paint('1', `[${index + 1}/${total}]`)} ${stage}${where}: running`);
    },
    stageDone({ arch, stage, result }) {
      const where = multiArch ? ` [${arch}]` : '';
      const layer = result.layer ? `${formatBytes(result.size)} layer ${result.layer.digest.slice(7, 19)}` : 'no changes';
      const how = result.cached ? out.dim('cached') : formatDuration(result.durationMs);
      out.info(`  ${stage}${where}: ${layer}, ${how}`);
    },
    info(message) {
      out.info(message);
    },
    warn(message) {
      out.warn(message);
    },
  };
}
