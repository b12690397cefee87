/**
 * Progress of a build for people. On a terminal, one live status line for
 * the running stage (downloads, package count, current step, elapsed time),
 * cleared whenever script output arrives; elsewhere, plain lines that read
 * well in logs and CI. Either way one summary line per stage.
 */
import type { BuildEvents } from '../pipeline/pipeline.js';
import { explanationText } from '../pipeline/explain.js';
import type { Output } from './output.js';
import { formatBytes } from '../fs/byte-size.js';

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const STEP_LABEL: Record<string, string> = {
  packages: 'installing packages',
  files: 'copying files',
  'host-run': 'running host-run',
  run: 'running run',
  remove: 'removing paths',
  layer: 'writing layer',
};

/** A status line rewritten in place on a TTY. */
class StatusLine {
  private text = '';
  private shown = false;
  private timer: NodeJS.Timeout | undefined;
  private started = 0;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  start(text: string): void {
    this.started = Date.now();
    this.set(text);
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref();
  }

  set(text: string): void {
    this.text = text;
    this.draw();
  }

  draw(): void {
    if (this.timer === undefined && this.started === 0) return;
    const elapsed = ((Date.now() - this.started) / 1000).toFixed(1);
    const line = `${this.text} ${elapsed}s`;
    // Escape codes take no columns: measure the visible text only.
    const visible = line.replace(/\u001b\[[0-9;]*m/g, '');
    const width = this.stream.columns ?? 80;
    this.stream.write(`\r\u001b[K${visible.length < width ? line : visible.slice(0, width - 1)}`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.stream.write('\r\u001b[K');
    this.shown = false;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.started = 0;
    this.clear();
  }
}

export function buildProgress(out: Output, multiArch: boolean): BuildEvents {
  const live = out.tty && !out.options.quiet ? new StatusLine(process.stderr) : undefined;
  let prefix = '';
  const where = (arch: string): string => (multiArch ? ` [${arch}]` : '');
  return {
    stageStart({ arch, stage, index, total, cached, explain }) {
      if (cached) return;
      prefix = `${out.paint('1', `[${index + 1}/${total}]`)} ${stage}${where(arch)}`;
      if (explain) for (const line of explanationText(explain)) out.info(`${stage}${where(arch)}: ${line}`);
      if (live) live.start(`${prefix}: starting`);
      else out.info(`${prefix}: running`);
    },
    stageProgress({ progress }) {
      switch (progress.type) {
        case 'download':
          live?.set(`${prefix}: downloading ${formatBytes(progress.received)} / ${formatBytes(progress.total)}`);
          break;
        case 'package':
          if (live) live.set(`${prefix}: installing ${progress.name} (${progress.index}/${progress.total})`);
          else out.debug(`  installing ${progress.name} (${progress.index}/${progress.total})`);
          break;
        case 'step':
          if (live) live.set(`${prefix}: ${STEP_LABEL[progress.step] ?? progress.step}`);
          else out.debug(`  ${STEP_LABEL[progress.step] ?? progress.step}`);
          break;
      }
    },
    stageFailed() {
      live?.stop();
    },
    output(chunk) {
      live?.clear();
      process.stderr.write(chunk);
      live?.draw();
    },
    stageDone({ arch, stage, result }) {
      live?.stop();
      const layer = result.layer ? `${formatBytes(result.size)} layer ${result.layer.digest.slice(7, 19)}` : 'no changes';
      const how = result.source === 'local' ? out.dim('cached') : result.source === 'shared' ? out.dim('from the shared cache') : formatDuration(result.durationMs);
      out.info(`  ${stage}${where(arch)}: ${layer}, ${how}`);
    },
    info(message) {
      live?.clear();
      out.info(message);
    },
    warn(message) {
      live?.clear();
      out.warn(message);
    },
  };
}
