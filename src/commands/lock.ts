import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base-command.js';
import { loadConfig } from '../config/load.js';
import type { LockCheck } from '../pipeline/lock-command.js';

function checkText(check: LockCheck): string {
  const lines: string[] = [];
  for (const i of check.indexes) lines.push(`${i.repository} (${i.arch}): index ${i.locked ?? 'not recorded'} → ${i.current}`);
  for (const p of check.packages) lines.push(`${p.arch} ${p.stage}: ${p.name} ${p.locked ?? '(not pinned)'} → ${p.current ?? '(no longer installed)'}`);
  lines.push(
    check.current
      ? check.indexes.length === 0
        ? 'eib.lock.json is current: the repositories have not changed'
        : 'eib.lock.json is current: the indexes changed, but not what the lock pins'
      : `the repositories moved on: ${check.packages.length} package(s) differ from eib.lock.json; run eib lock --update`,
  );
  return lines.join('\n');
}

export default class Lock extends BaseCommand {
  static override summary = 'Resolve the packages of every stage and arch and write eib.lock.json.';
  static override description =
    'Builds install exactly what the lock pins. Without --update, pins that still resolve are kept. With --check nothing is written: exit 1 when the repositories moved on (the packages with other versions are listed), 0 otherwise.';
  static override flags = {
    update: Flags.boolean({ summary: 'Resolve everything again from the repositories.', default: false }),
    check: Flags.boolean({ summary: 'Report whether the repositories moved on since the lock; write nothing.', default: false, exclusive: ['update'] }),
    offline: Flags.boolean({ summary: 'Use only cached repository indexes.', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parseWithOutput(Lock);
    const { checkLock, lockPackages } = await import('../pipeline/lock-command.js');
    const config = await loadConfig({ path: this.configPath(flags.config), cwd: process.cwd() });
    if (flags.check) {
      const check = await checkLock(config, { offline: flags.offline, warn: (m) => this.out.warn(m) });
      this.out.result(check, checkText(check));
      if (!check.current) this.exit(1);
      return;
    }
    const result = await lockPackages(config, { update: flags.update, offline: flags.offline, warn: (m) => this.out.warn(m) });
    const counts = Object.entries(result.lock.arches).map(([arch, stages]) => `${arch}: ${Object.values(stages).reduce((n, s) => n + s.length, 0)} packages`);
    this.out.result(result.lock, `wrote ${result.path} (${counts.join(', ')})`);
  }
}
