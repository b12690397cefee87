/**
 * `eib doctor`: what the host gives eib for rootless builds, one check per
 * line, each with its fix. A check is `required` when a build fails without
 * it; the others degrade a build (single-id mapping) or one output (ext4).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { release as kernelRelease, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { AlpineArch } from '../config/types.js';
import { binfmtEntryName, hostArch, isNativeArch, qemuBinaryName } from './arch.js';
import { BINFMT_DIR, readEntry, type BinfmtEntry } from './emulation.js';
import { subordinateRanges } from './idmap.js';
import { mount, unmountTree } from './mount-tool.js';
import { runInNamespace } from './namespace.js';
import { findTool, runTool } from '../fs/tool.js';
import { namespaceTask } from './task.js';

export interface DoctorCheck {
  /** Short name, e.g. "user namespaces", "qemu-aarch64-static". */
  name: string;
  ok: boolean;
  /** A build fails without it. */
  required: boolean;
  /** What was found. */
  detail: string;
  /** What to do when not ok: a package to install or a command to run. */
  fix?: string;
}

export interface DoctorReport {
  /** False when a build would fail (a required check is missing). */
  ok: boolean;
  arches: AlpineArch[];
  checks: DoctorCheck[];
}

/** Overlayfs in a user namespace needs 5.11; a private binfmt_misc needs 6.7. */
const MIN_KERNEL: [number, number] = [5, 11];
const USERNS_BINFMT_KERNEL: [number, number] = [6, 7];
const SBIN_PATH = '/usr/local/sbin:/usr/sbin:/sbin';

/** `extra`: checks of modules above the sandbox (eib boot's qemu-system), reported after these. */
export async function runDoctor(options: { arches: readonly AlpineArch[]; extra?: readonly DoctorCheck[] }): Promise<DoctorReport> {
  const arches = [...new Set(options.arches)];
  const foreign = arches.filter((a) => !isNativeArch(a));
  const checks: DoctorCheck[] = [];
  const root = (process.getuid?.() ?? 0) === 0;
  const user = userInfo().username;

  const kernel = parseKernel(kernelRelease());
  const kernelOk = atLeast(kernel, MIN_KERNEL);
  checks.push({
    name: 'kernel',
    ok: kernelOk,
    required: true,
    detail: `Linux ${kernelRelease()}${atLeast(kernel, USERNS_BINFMT_KERNEL) ? '' : ' (before 6.7: foreign arches need a host binfmt_misc registration)'}`,
    ...(kernelOk ? {} : { fix: 'upgrade to Linux 5.11 or later (overlayfs in user namespaces)' }),
  });

  const unshare = findTool('unshare');
  if (unshare === undefined) {
    checks.push({ name: 'user namespaces', ok: false, required: true, detail: 'unshare not found on PATH', fix: 'install util-linux (Debian/Ubuntu: apt install util-linux)' });
  } else if (root) {
    checks.push({ name: 'user namespaces', ok: true, required: true, detail: 'running as root: mount and pid namespaces only' });
  } else {
    const r = await runTool([unshare, '--user', '--map-root-user', 'true']);
    checks.push({
      name: 'user namespaces',
      ok: r.code === 0,
      required: true,
      detail: r.code === 0 ? 'unprivileged user namespaces work' : `unshare --user failed: ${r.stderr.trim()}`,
      ...(r.code === 0
        ? {}
        : { fix: 'allow them: sudo sysctl -w kernel.unprivileged_userns_clone=1 (Debian) or kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 24.04+), and user.max_user_namespaces > 0' }),
    });
  }

  if (!root) {
    const uid = process.getuid?.() ?? 0;
    const subuid = subordinateRanges('/etc/subuid', { name: user, id: uid });
    const subgid = subordinateRanges('/etc/subgid', { name: user, id: uid });
    const describe = (r: { start: number; count: number }[]): string => r.map((x) => `${x.start}+${x.count}`).join(', ') || 'none';
    const rangesOk = subuid.length > 0 && subgid.length > 0;
    checks.push({
      name: 'subordinate ids',
      ok: rangesOk,
      required: false,
      detail: `/etc/subuid: ${describe(subuid)}; /etc/subgid: ${describe(subgid)}${rangesOk ? '' : ' (without them files owned by other users end up owned by root)'}`,
      ...(rangesOk ? {} : { fix: `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}` }),
    });
    const helpers = ['newuidmap', 'newgidmap'].map((n) => findTool(n, `${process.env['PATH'] ?? ''}:${SBIN_PATH}`));
    const helpersOk = helpers.every((h) => h !== undefined);
    checks.push({
      name: 'newuidmap/newgidmap',
      ok: helpersOk,
      required: false,
      detail: helpersOk ? helpers.join(', ') : 'not found on PATH',
      ...(helpersOk ? {} : { fix: 'install uidmap (Debian/Ubuntu: apt install uidmap; Fedora: shadow-utils)' }),
    });
  }

  const probe = await probeNamespace(foreign);
  checks.push({
    name: 'overlayfs (userxattr)',
    ok: probe.overlay === true,
    required: true,
    detail: probe.overlay === true ? 'overlay mounts with userxattr in the namespace' : `overlay mount failed: ${probe.overlay}`,
    ...(probe.overlay === true ? {} : { fix: 'needs Linux 5.11+ with overlayfs (modprobe overlay)' }),
  });

  if (foreign.length > 0) {
    const hostOk = foreign.every((a) => {
      const e = probe.hostEntries[a];
      return e !== undefined && e.enabled && e.flags.includes('F');
    });
    const ok = probe.binfmt === true || hostOk;
    checks.push({
      name: 'binfmt_misc',
      ok,
      required: true,
      detail:
        probe.binfmt === true
          ? root
            ? 'binfmt_misc mounts (running as root: registrations go to the host)'
            : 'private binfmt_misc in the user namespace'
          : hostOk
            ? `host registrations with flag F (${foreign.map(binfmtEntryName).join(', ')})`
            : `no private binfmt_misc (${probe.binfmt}) and no host registration with flag F`,
      ...(ok ? {} : { fix: 'use Linux 6.7+, or register qemu on the host with flag F (Debian/Ubuntu: apt install qemu-user-static binfmt-support)' }),
    });
  }

  for (const arch of arches) {
    const name = qemuBinaryName(arch);
    if (isNativeArch(arch)) {
      checks.push({ name, ok: true, required: false, detail: `${arch} runs natively on this ${hostArch()} host` });
      continue;
    }
    const path = findTool(name);
    checks.push({
      name,
      ok: path !== undefined,
      required: true,
      detail: path ?? `not found on PATH (needed to run ${arch} binaries)`,
      ...(path === undefined ? { fix: 'install qemu-user-static (Debian/Ubuntu: apt install qemu-user-static; Fedora: dnf install qemu-user-static)' } : {}),
    });
  }

  const mke2fs = findTool('mke2fs', `${process.env['PATH'] ?? ''}:${SBIN_PATH}`);
  checks.push({
    name: 'mke2fs',
    ok: mke2fs !== undefined,
    required: false,
    detail: mke2fs ?? 'not found (needed for .ext4 exports only)',
    ...(mke2fs === undefined ? { fix: 'install e2fsprogs (Debian/Ubuntu: apt install e2fsprogs)' } : {}),
  });

  checks.push(...(options.extra ?? []));
  return { ok: checks.every((c) => c.ok || !c.required), arches, checks };
}

interface ProbeResult {
  /** true, or why the overlay mount failed. */
  overlay: true | string;
  /** true, or why binfmt_misc could not be mounted. */
  binfmt: true | string;
  hostEntries: Partial<Record<AlpineArch, BinfmtEntry>>;
}

async function probeNamespace(foreign: AlpineArch[]): Promise<ProbeResult> {
  try {
    return await runInNamespace(probeTask, { foreign }, { onOutput: () => undefined, onWarning: () => undefined });
  } catch (e) {
    const why = `cannot enter the namespace: ${(e as Error).message.split('\n')[0] ?? ''}`;
    return { overlay: why, binfmt: why, hostEntries: {} };
  }
}

/** Inside the namespace: try what a build does, without keeping anything. */
async function probeInside(payload: { foreign: AlpineArch[] }): Promise<ProbeResult> {
  const hostEntries: Partial<Record<AlpineArch, BinfmtEntry>> = {};
  for (const arch of payload.foreign) {
    const entry = await readEntry(binfmtEntryName(arch));
    if (entry !== undefined) hostEntries[arch] = entry;
  }
  const dir = await mkdtemp(join(tmpdir(), 'eib-doctor-'));
  let overlay: true | string = true;
  try {
    for (const d of ['lower/sub', 'upper', 'work', 'merged']) await mkdir(join(dir, d), { recursive: true });
    await writeFile(join(dir, 'lower', 'sub', 'file'), 'x');
    await mount(['-t', 'overlay', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work,userxattr`, 'overlay', join(dir, 'merged')], 'a test overlay');
    try {
      // Removing a lower directory is what fails (EIO) without userxattr.
      await rm(join(dir, 'merged', 'sub'), { recursive: true });
    } finally {
      await unmountTree(join(dir, 'merged'));
    }
  } catch (e) {
    overlay = (e as Error).message;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  let binfmt: true | string = true;
  try {
    await mount(['-t', 'binfmt_misc', 'binfmt_misc', BINFMT_DIR], 'binfmt_misc');
  } catch (e) {
    binfmt = (e as Error).message;
  }
  return { overlay, binfmt, hostEntries };
}

function parseKernel(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function atLeast(v: [number, number], min: [number, number]): boolean {
  return v[0] > min[0] || (v[0] === min[0] && v[1] >= min[1]);
}

/** One line per check: `ok      name  detail` or `missing name  detail — fix: …`. */
export function formatDoctorReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map((c) => {
    const status = c.ok ? 'ok     ' : c.required ? 'missing' : 'warning';
    return `${status} ${c.name.padEnd(width)}  ${c.detail}${c.fix ? ` — fix: ${c.fix}` : ''}`;
  });
  lines.push(report.ok ? `eib can build ${report.arches.join(', ')} images here.` : 'A build would fail here: fix the missing items above.');
  return lines.join('\n');
}

export const probeTask = namespaceTask(import.meta.url, 'probeTask', probeInside);
