/**
 * `eib boot`: the built image (up to a stage) in qemu-system, as a regular
 * user. The kernel is the image's own /boot/vmlinuz-* (picked out of the
 * layers while they are streamed), else boot.kernel. The root filesystem
 * is a RootMedium (today the image as an initramfs: see root-medium.ts).
 *
 * With boot.test, the machine runs the test (see test-init.ts) and the
 * test's exit code is the result; boot.timeout bounds the whole run.
 * Without it the boot is interactive: the terminal is the serial console,
 * the image's own init runs, and poweroff or Ctrl-A X leaves.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { DEFAULT_BOOT_MEMORY, DEFAULT_BOOT_TIMEOUT } from '../config/normalize.js';
import type { AlpineArch, BootConfig, Config, Script } from '../config/types.js';
import { HostError, UsageError } from '../errors.js';
import { scanImage, type InitramfsSource } from '../export/initramfs.js';
import { selectImage } from '../export/select.js';
import { findTool } from '../fs/tool.js';
import { BootError } from './errors.js';
import { machineArgs, machineFor, MACHINES } from './machine.js';
import { PassedFiles } from './passed-files.js';
import { initramfsMedium, type RootMedium } from './root-medium.js';
import { testArchive, TEST_INIT } from './test-init.js';
import { runMachine } from './vm.js';

export interface BootOptions {
  /** Boot the image as it stood after this stage (default: the last). */
  stage?: string;
  arch?: AlpineArch;
  /** The console log (default: beside the OCI layout, boot-<arch>.log). */
  log?: string;
  /** Test mode: each line the test prints. */
  onTestOutput?: (line: string) => void;
  /** Told what is being booted, before qemu starts. */
  onStart?: (what: BootStart) => void;
}

export interface BootStart {
  arch: AlpineArch;
  stage: string;
  kernel: string;
  qemu: string;
  accel: 'kvm' | 'tcg';
  mode: 'test' | 'interactive';
  log: string;
}

export interface BootResult {
  /** The test's exit code (test mode); qemu's in interactive mode (0 when the guest powered off). */
  exitCode: number;
  mode: 'test' | 'interactive';
  /** Seconds from starting qemu to the test running (test mode). */
  bootSeconds?: number;
  /** Seconds the machine ran. */
  seconds: number;
  log: string;
  arch: AlpineArch;
  stage: string;
  kernel: { from: 'image' | 'config'; path: string };
  machine: { qemu: string; machine: string; accel: 'kvm' | 'tcg' };
  root: RootMedium['kind'];
  /** Set when SIGINT/SIGTERM/SIGHUP stopped the machine. */
  interrupted?: 'SIGINT' | 'SIGTERM' | 'SIGHUP';
}

const KERNEL = /^boot\/vmlinuz-[^/]+$/;

function bootConfig(config: Config): BootConfig {
  return config.boot ?? { append: '', memory: DEFAULT_BOOT_MEMORY, timeout: DEFAULT_BOOT_TIMEOUT, test: [], network: false };
}

async function scriptText(script: Script): Promise<string> {
  return 'inline' in script ? script.inline : readFile(script.file, 'utf8');
}

export async function bootImage(config: Config, options: BootOptions = {}): Promise<BootResult> {
  const boot = bootConfig(config);
  const image = await selectImage(config, { ...(options.arch === undefined ? {} : { arch: options.arch }), ...(options.stage === undefined ? {} : { stage: options.stage }) });
  const machine = machineFor(image.arch);
  if (machine === undefined) throw new UsageError(`eib boot has no virtual machine for ${image.arch} images; it boots ${Object.keys(MACHINES).join(', ')}`);
  const qemu = findTool(machine.binary);
  if (qemu === undefined) throw new HostError(`${machine.binary} was not found on PATH; install it (Debian/Ubuntu: apt install ${machine.debianPackage})`);

  const source: InitramfsSource = { layers: image.layers.map((l) => () => image.layout.blobs.open(l.digest)), names: image.names };
  const kernels: string[] = [];
  let hasInit = false;
  const scan = await scanImage(source, (h) => {
    if (h.type === 'file' && KERNEL.test(h.path)) kernels.push(h.path);
    if (h.path === 'init' || h.path === './init') hasInit = true;
  });
  const imageKernel = kernels.sort().at(-1);
  if (imageKernel === undefined && boot.kernel === undefined) {
    throw new BootError(
      'EBOOTKERNEL',
      `the image has no /boot/vmlinuz-* and ${config.file} sets no boot.kernel: add a kernel package (e.g. linux-virt) to a stage, or set boot.kernel to a kernel image file (e.g. the vmlinuz of Debian's linux-image-arm64)`,
      { exitCode: 2 },
    );
  }

  const testMode = boot.test.length > 0;
  const log = resolve(options.log ?? join(dirname(config.outputs.oci), `boot-${image.arch}.log`));
  await mkdir(dirname(log), { recursive: true });
  const nonce = randomBytes(8).toString('hex');
  const files = new PassedFiles();
  try {
    // The image's kernel is copied out of the layers while the initramfs is written.
    let kernelPath = boot.kernel ?? '';
    let kernelDone: Promise<void> | undefined;
    let tap: { name: string; sink: import('node:stream').Writable } | undefined;
    if (imageKernel !== undefined) {
      const k = await files.create('kernel');
      const sink = PassedFiles.appender(k.handle);
      kernelDone = new Promise((res, rej) => sink.on('finish', () => res()).on('error', rej));
      tap = { name: imageKernel, sink };
      kernelPath = k.path;
    }
    const medium = await initramfsMedium({
      source,
      scan,
      files,
      ...(testMode ? { extra: testArchive(await Promise.all(boot.test.map(scriptText)), nonce), init: TEST_INIT } : hasInit ? {} : { init: '/sbin/init' }),
      ...(tap === undefined ? {} : { tap }),
    });
    if (tap !== undefined) {
      tap.sink.end();
      await kernelDone;
    }

    const append = [`console=${machine.console}`, ...medium.kernelArgs, 'panic=-1', boot.append].filter((a) => a !== '').join(' ');
    const network = boot.network ? ['-netdev', 'user,id=net0', '-device', 'virtio-net-pci,netdev=net0,romfile='] : ['-nic', 'none'];
    const args = [...machineArgs(machine, boot.memory), '-kernel', kernelPath, ...medium.qemuArgs, '-append', append, ...network];
    const kernelLabel = imageKernel !== undefined ? `/${imageKernel} (from the image)` : boot.kernel!;
    options.onStart?.({ arch: image.arch, stage: image.stage, kernel: kernelLabel, qemu, accel: machine.accel, mode: testMode ? 'test' : 'interactive', log });

    const outcome = await runMachine({
      qemu,
      args,
      fds: files.fds(),
      log,
      interactive: !testMode,
      ...(testMode ? { nonce, timeoutMs: boot.timeout * 1000 } : {}),
      ...(options.onTestOutput === undefined ? {} : { onTestOutput: options.onTestOutput }),
    });
    const base = {
      mode: testMode ? ('test' as const) : ('interactive' as const),
      seconds: outcome.runMs / 1000,
      ...(outcome.bootMs === undefined ? {} : { bootSeconds: outcome.bootMs / 1000 }),
      log,
      arch: image.arch,
      stage: image.stage,
      kernel: imageKernel !== undefined ? { from: 'image' as const, path: `/${imageKernel}` } : { from: 'config' as const, path: boot.kernel! },
      machine: { qemu, machine: machine.machine, accel: machine.accel },
      root: medium.kind,
    };
    if (outcome.interrupted !== undefined) return { ...base, exitCode: 1, interrupted: outcome.interrupted };
    if (!testMode) return { ...base, exitCode: outcome.qemuExit === 0 ? 0 : 1 };
    if (outcome.testExit !== undefined) return { ...base, exitCode: outcome.testExit };
    const tail = outcome.tail.length > 0 ? `\nlast console lines:\n${outcome.tail.map((l) => `  | ${l}`).join('\n')}` : '';
    if (outcome.timedOut) {
      throw new BootError('EBOOTTIMEOUT', `the test did not finish within boot.timeout (${boot.timeout} s); the machine was stopped. Console log: ${log}${tail}`);
    }
    const qemuSaid = outcome.qemuExit !== 0 && outcome.stderr.trim() !== '' ? `; qemu: ${outcome.stderr.trim().split('\n').slice(-3).join(' ')}` : '';
    throw new BootError('EBOOTSTOPPED', `the machine stopped before the test reported its exit code (qemu exited with ${outcome.qemuExit ?? 'a signal'}${qemuSaid}): did the kernel find /bin/sh? Console log: ${log}${tail}`);
  } finally {
    await files.close();
  }
}
