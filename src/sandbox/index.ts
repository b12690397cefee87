/** The rootless sandbox: the only module that starts namespaced processes. */
export { runInNamespace, type NamespaceOptions, type TaskContext } from './namespace.js';
export { namespaceTask, type NamespaceTask } from './task.js';
export { mountStageRoot, type StageRoot, type StageRootOptions } from './mounts.js';
export { ensureEmulation, type EmulationMethod } from './emulation.js';
export { hostArch, isNativeArch, qemuBinaryName } from './arch.js';
export { runInChroot, runOnHost, CLEAN_PATH, type CommandOptions, type CommandResult } from './chroot.js';
export { openShell, type ShellOptions } from './shell.js';
export { runDoctor, formatDoctorReport, type DoctorCheck, type DoctorReport } from './doctor.js';
export { SandboxError, type SandboxErrorCode } from './errors.js';
export type { IdMapKind } from './idmap.js';
