/** `eib doctor`'s checks for `eib boot`: a qemu-system for each arch, and KVM when it can be used. */
import type { AlpineArch } from '../config/types.js';
import { findTool } from '../fs/tool.js';
import type { DoctorCheck } from '../sandbox/doctor.js';
import { hostArch } from '../sandbox/arch.js';
import { kvmUsable, MACHINES } from './machine.js';

export function bootChecks(arches: readonly AlpineArch[]): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  for (const arch of new Set(arches)) {
    const kind = MACHINES[arch];
    if (kind === undefined) {
      checks.push({ name: `eib boot (${arch})`, ok: false, required: false, detail: `eib boot has no virtual machine for ${arch}` });
      continue;
    }
    const path = findTool(kind.binary);
    const accel = arch === hostArch() ? (kvmUsable(arch) ? ', KVM' : ', TCG: /dev/kvm is not usable by this user') : ', TCG (emulated)';
    checks.push({
      name: kind.binary,
      ok: path !== undefined,
      required: false,
      detail: path === undefined ? `not found (needed by eib boot for ${arch} images only)` : `${path}${accel}`,
      ...(path === undefined ? { fix: `install ${kind.debianPackage} (Debian/Ubuntu: apt install ${kind.debianPackage})` } : {}),
    });
  }
  return checks;
}
