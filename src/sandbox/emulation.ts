/**
 * Running foreign binaries in the stage root. Inside a user namespace on
 * Linux ≥ 6.7, binfmt_misc can be mounted privately and qemu-<arch>-static
 * registered there with flag F (the kernel opens the emulator at
 * registration, so the chroot need not contain it): no host setup, no root.
 * On older kernels a host registration with flag F is used instead.
 * Called inside the namespace (see runInNamespace).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { AlpineArch } from '../config/types.js';
import { HostError } from '../errors.js';
import { binfmtEntryName, binfmtRegistration, hostArch, isNativeArch, qemuBinaryName } from './arch.js';
import { mount } from './mount-tool.js';
import { findTool } from '../fs/tool.js';

export type EmulationMethod = 'native' | 'userns-binfmt' | 'host-binfmt';

export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

const ensured = new Map<AlpineArch, Promise<{ method: EmulationMethod }>>();
let privateInstance: Promise<boolean> | undefined;

/** Make binaries of `arch` runnable in chroots of this namespace; once per arch and process. */
export function ensureEmulation(arch: AlpineArch): Promise<{ method: EmulationMethod }> {
  let pending = ensured.get(arch);
  if (pending === undefined) {
    pending = setUp(arch);
    ensured.set(arch, pending);
    pending.catch(() => ensured.delete(arch));
  }
  return pending;
}

async function setUp(arch: AlpineArch): Promise<{ method: EmulationMethod }> {
  if (isNativeArch(arch)) return { method: 'native' };
  const entry = binfmtEntryName(arch);
  // Real root sees the host's binfmt_misc, which may not be mounted: mount it
  // (the mount stays private to eib's mount namespace; a registration does not).
  if ((await inInitialUserNamespace()) && !existsSync(`${BINFMT_DIR}/register`)) await mountPrivateInstance();
  const hostEntry = await readEntry(entry);
  const qemu = findTool(qemuBinaryName(arch));

  if (!(await inInitialUserNamespace())) {
    privateInstance ??= mountPrivateInstance();
    if (await privateInstance) {
      if (qemu === undefined) throw missingQemu(arch);
      await register(arch, qemu);
      return { method: 'userns-binfmt' };
    }
  } else if (hostEntry === undefined && qemu !== undefined) {
    // Real root shares the host's binfmt_misc: register there (it stays).
    await register(arch, qemu);
    process.stderr.write(`warning: registered ${qemu} for ${arch} binaries in the host's binfmt_misc (running as root)\n`);
    return { method: 'host-binfmt' };
  }

  if (hostEntry !== undefined && hostEntry.enabled && hostEntry.flags.includes('F')) return { method: 'host-binfmt' };
  if (hostEntry !== undefined) {
    const why = hostEntry.enabled ? 'without flag F (fix-binary), so the emulator is not found inside the chroot' : 'but it is disabled';
    throw new HostError(
      `the host registers ${entry} in binfmt_misc ${why}, and this kernel cannot give eib a private binfmt_misc (needs Linux 6.7 or later). ` +
        `Fix: re-register it with flag F: echo -1 | sudo tee ${BINFMT_DIR}/${entry}; echo '${binfmtRegistration(arch, qemu ?? `/usr/bin/${qemuBinaryName(arch)}`)}' | sudo tee ${BINFMT_DIR}/register`,
    );
  }
  if (qemu === undefined) throw missingQemu(arch);
  throw new HostError(
    `cannot run ${arch} binaries: this kernel cannot give eib a private binfmt_misc (needs Linux 6.7 or later) and the host has no ${entry} registration with flag F. ` +
      `Fix: install qemu-user-static (Debian/Ubuntu register it with flag F), or run: echo '${binfmtRegistration(arch, qemu)}' | sudo tee ${BINFMT_DIR}/register`,
  );
}

function missingQemu(arch: AlpineArch): HostError {
  return new HostError(
    `cannot run ${arch} binaries on this ${hostArch()} host: ${qemuBinaryName(arch)} was not found on PATH. ` +
      `Fix: install qemu-user-static (Debian/Ubuntu: apt install qemu-user-static; Fedora: dnf install qemu-user-static)`,
  );
}

/** Mount this user namespace's own binfmt_misc; false where the kernel refuses (before 6.7). */
async function mountPrivateInstance(): Promise<boolean> {
  try {
    await mount(['-t', 'binfmt_misc', 'binfmt_misc', BINFMT_DIR], 'binfmt_misc');
    return true;
  } catch {
    return false;
  }
}

async function register(arch: AlpineArch, qemu: string): Promise<void> {
  const existing = await readEntry(binfmtEntryName(arch));
  if (existing !== undefined && existing.enabled && existing.flags.includes('F')) return;
  try {
    await writeFile(`${BINFMT_DIR}/register`, binfmtRegistration(arch, qemu));
  } catch (e) {
    throw new HostError(`could not register ${qemu} for ${arch} binaries in binfmt_misc: ${(e as Error).message}`, { cause: e });
  }
}

export interface BinfmtEntry {
  enabled: boolean;
  interpreter?: string;
  flags: string;
}

/** The binfmt_misc entry `name` as this mount namespace sees it, if any. */
export async function readEntry(name: string): Promise<BinfmtEntry | undefined> {
  let text: string;
  try {
    text = await readFile(`${BINFMT_DIR}/${name}`, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const interpreter = lines.find((l) => l.startsWith('interpreter '))?.slice('interpreter '.length);
  return {
    enabled: lines[0] === 'enabled',
    flags: lines.find((l) => l.startsWith('flags:'))?.slice('flags:'.length).trim() ?? '',
    ...(interpreter === undefined ? {} : { interpreter }),
  };
}

/** True for real root (no user namespace): its uid_map is the identity over all ids. */
async function inInitialUserNamespace(): Promise<boolean> {
  const map = await readFile('/proc/self/uid_map', 'utf8');
  return /^\s*0\s+0\s+4294967295\s*$/.test(map.trim());
}
