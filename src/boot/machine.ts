/**
 * The virtual machine for each Alpine arch: which qemu-system binary, which
 * machine and cpu, and the serial console the kernel should write to. KVM
 * when the image's arch is the host's and /dev/kvm can be opened, TCG
 * (emulation) otherwise.
 */
import { accessSync, constants } from 'node:fs';
import type { AlpineArch } from '../config/types.js';
import { hostArch } from '../sandbox/arch.js';

export interface MachineKind {
  /** qemu-system-<target>. */
  readonly binary: string;
  /** The Debian package that has it. */
  readonly debianPackage: string;
  readonly machine: string;
  /** cpu model under TCG; KVM uses "host". */
  readonly cpu: string;
  /** The kernel's name of the first serial port of this machine. */
  readonly console: string;
}

const ARM32: MachineKind = { binary: 'qemu-system-arm', debianPackage: 'qemu-system-arm', machine: 'virt', cpu: 'cortex-a15', console: 'ttyAMA0' };

/** Arches eib boot knows a machine for. */
export const MACHINES: Readonly<Partial<Record<AlpineArch, MachineKind>>> = {
  aarch64: { binary: 'qemu-system-aarch64', debianPackage: 'qemu-system-arm', machine: 'virt', cpu: 'cortex-a57', console: 'ttyAMA0' },
  armv7: ARM32,
  armhf: ARM32,
  riscv64: { binary: 'qemu-system-riscv64', debianPackage: 'qemu-system-misc', machine: 'virt', cpu: 'rv64', console: 'ttyS0' },
  x86_64: { binary: 'qemu-system-x86_64', debianPackage: 'qemu-system-x86', machine: 'q35', cpu: 'max', console: 'ttyS0' },
  x86: { binary: 'qemu-system-i386', debianPackage: 'qemu-system-x86', machine: 'q35', cpu: 'max', console: 'ttyS0' },
};

export interface Machine extends MachineKind {
  arch: AlpineArch;
  accel: 'kvm' | 'tcg';
}

/** Whether this process can use KVM for a guest of `arch`. */
export function kvmUsable(arch: AlpineArch, kvmDevice = '/dev/kvm'): boolean {
  if (arch !== hostArch()) return false;
  try {
    accessSync(kvmDevice, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The machine for `arch`, or undefined when eib boot has none for it. */
export function machineFor(arch: AlpineArch, kvm = kvmUsable(arch)): Machine | undefined {
  const kind = MACHINES[arch];
  return kind === undefined ? undefined : { ...kind, arch, accel: kvm ? 'kvm' : 'tcg' };
}

/** qemu arguments for the machine itself: no display, no reboot, memory, accelerator. */
export function machineArgs(m: Machine, memoryMiB: number): string[] {
  return ['-M', m.machine, '-accel', m.accel, '-cpu', m.accel === 'kvm' ? 'host' : m.cpu, '-m', String(memoryMiB), '-display', 'none', '-no-reboot', '-no-user-config', '-nodefaults'];
}
