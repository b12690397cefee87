/**
 * Alpine arches as the kernel and qemu see them: the host's arch, the qemu
 * user-mode emulator for each, and the binfmt_misc magic/mask that routes
 * its ELF binaries to that emulator. Values follow qemu's
 * scripts/qemu-binfmt-conf.sh (the table distributions install).
 */
import type { AlpineArch } from '../config/types.js';
import { HostError } from '../errors.js';

export interface EmulatorInfo {
  /** qemu's target name: qemu-<name>-static is the emulator binary. */
  readonly qemu: string;
  /**
   * qemu's cpu family: binaries of the host's own family run natively
   * (e.g. x86 on x86_64), so no handler is registered for them.
   */
  readonly family: string;
  /** ELF header bytes to match (e_ident, e_type, e_machine). */
  readonly magic: readonly number[];
  /** Which bits of the magic matter. */
  readonly mask: readonly number[];
}

const ELF32_LE = [0x7f, 0x45, 0x4c, 0x46, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00];
const ELF64_LE = [0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00];
const ELF64_BE = [0x7f, 0x45, 0x4c, 0x46, 0x02, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02];
/** Ignores the OS/ABI version byte and the low bit of e_type (EXEC vs DYN). */
const MASK_LE = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff];
const MASK_BE = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff];
/** x86 also ignores the low bits of the ELF class and data bytes. */
const MASK_X86 = [0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xfe, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff];

const ARM: EmulatorInfo = { qemu: 'arm', family: 'arm', magic: [...ELF32_LE, 0x28, 0x00], mask: MASK_LE };

export const EMULATORS: Readonly<Record<AlpineArch, EmulatorInfo>> = {
  aarch64: { qemu: 'aarch64', family: 'arm', magic: [...ELF64_LE, 0xb7, 0x00], mask: MASK_LE },
  armv7: ARM,
  armhf: ARM,
  x86: { qemu: 'i386', family: 'i386', magic: [...ELF32_LE, 0x03, 0x00], mask: MASK_X86 },
  x86_64: { qemu: 'x86_64', family: 'i386', magic: [...ELF64_LE, 0x3e, 0x00], mask: MASK_X86 },
  riscv64: { qemu: 'riscv64', family: 'riscv64', magic: [...ELF64_LE, 0xf3, 0x00], mask: MASK_LE },
  // e_flags are not matched, so the last byte of the mask is 0 (ELFv1 and v2).
  ppc64le: { qemu: 'ppc64le', family: 'ppcle', magic: [...ELF64_LE, 0x15, 0x00], mask: [...MASK_LE.slice(0, 19), 0x00] },
  s390x: { qemu: 's390x', family: 's390x', magic: [...ELF64_BE, 0x00, 0x16], mask: MASK_BE },
  loongarch64: {
    qemu: 'loongarch64',
    family: 'loongarch',
    magic: [...ELF64_LE, 0x02, 0x01],
    mask: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff],
  },
};

const NODE_ARCH: Readonly<Record<string, AlpineArch>> = {
  arm64: 'aarch64',
  arm: 'armv7',
  ia32: 'x86',
  x64: 'x86_64',
  riscv64: 'riscv64',
  ppc64: 'ppc64le',
  s390x: 's390x',
  loong64: 'loongarch64',
};

/** The Alpine name of the arch eib itself runs on. */
export function hostArch(nodeArch: string = process.arch): AlpineArch {
  const arch = NODE_ARCH[nodeArch];
  if (arch === undefined) throw new HostError(`eib runs on ${nodeArch}, which is not an Alpine arch; run eib on one of ${Object.keys(NODE_ARCH).join(', ')}`);
  return arch;
}

/** True when binaries of `arch` run on this host without an emulator. */
export function isNativeArch(arch: AlpineArch, host: AlpineArch = hostArch()): boolean {
  return EMULATORS[arch].family === EMULATORS[host].family;
}

/** Name of the static emulator binary for `arch`, e.g. qemu-aarch64-static. */
export function qemuBinaryName(arch: AlpineArch): string {
  return `qemu-${EMULATORS[arch].qemu}-static`;
}

/** The binfmt_misc entry name eib uses (and that distributions use): qemu-<qemu arch>. */
export function binfmtEntryName(arch: AlpineArch): string {
  return `qemu-${EMULATORS[arch].qemu}`;
}

/**
 * The line written to binfmt_misc's register file. Flag F (fix-binary)
 * opens the interpreter now, so it works inside a chroot that lacks it.
 */
export function binfmtRegistration(arch: AlpineArch, interpreter: string): string {
  const e = EMULATORS[arch];
  const hex = (bytes: readonly number[]): string => bytes.map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
  return `:${binfmtEntryName(arch)}:M::${hex(e.magic)}:${hex(e.mask)}:${interpreter}:F`;
}
