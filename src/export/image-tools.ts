/**
 * The programs that make filesystem and disk images (squashfs-tools,
 * erofs-utils, dosfstools, mtools, fdisk, zstd): found on PATH or in the
 * sbin folders a user's PATH often lacks, with the Debian package to
 * install when one is missing.
 */
import { HostError } from '../errors.js';
import { findTool, runTool, tailLines, type ToolResult } from '../fs/tool.js';
import type { DoctorCheck } from '../sandbox/doctor.js';

const PACKAGES = {
  mksquashfs: 'squashfs-tools',
  'mkfs.erofs': 'erofs-utils',
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  mmd: 'mtools',
  sfdisk: 'fdisk',
  zstd: 'zstd',
} as const;

/** What each tool is needed for, in `eib doctor`'s words. */
const USES: Record<keyof typeof PACKAGES, string> = {
  mksquashfs: 'squashfs exports and partitions',
  'mkfs.erofs': 'erofs exports and partitions',
  'mkfs.vfat': 'vfat partitions of disk images',
  mcopy: 'vfat partitions of disk images',
  mmd: 'vfat partitions of disk images',
  sfdisk: 'disk images (outputs.disk)',
  zstd: 'outputs.disk compress: zst',
};

export type ImageTool = keyof typeof PACKAGES;

export function imageTool(name: ImageTool, forWhat: string): string {
  const path = findTool(name) ?? findTool(name, '/usr/sbin:/sbin');
  if (path === undefined) {
    throw new HostError(`${name} was not found (looked on PATH, /usr/sbin and /sbin); ${forWhat} needs it: install it (Debian/Ubuntu: apt install ${PACKAGES[name]})`);
  }
  return path;
}

/** `eib doctor`'s checks: each tool, optional (only the outputs that use it need it). */
export function imageToolChecks(): DoctorCheck[] {
  return (Object.keys(PACKAGES) as ImageTool[]).map((name) => {
    const path = findTool(name) ?? findTool(name, '/usr/sbin:/sbin');
    return {
      name,
      ok: path !== undefined,
      required: false,
      detail: path ?? `not found (needed for ${USES[name]} only)`,
      ...(path === undefined ? { fix: `install ${PACKAGES[name]} (Debian/Ubuntu: apt install ${PACKAGES[name]})` } : {}),
    };
  });
}

/** Run an image tool with a fixed locale (and SOURCE_DATE_EPOCH when given); never throws on a non-zero exit. */
export function runImageTool(argv: readonly string[], options: { epoch?: number; cwd?: string; input?: string } = {}): Promise<ToolResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', TZ: 'UTC', MTOOLS_SKIP_CHECK: '1' };
  if (options.epoch !== undefined) env['SOURCE_DATE_EPOCH'] = String(options.epoch);
  else delete env['SOURCE_DATE_EPOCH'];
  return runTool(argv, { env, ...(options.cwd === undefined ? {} : { cwd: options.cwd }), ...(options.input === undefined ? {} : { input: options.input }) });
}

/** The last lines of a tool's stderr, for an error message. */
export function toolTail(result: ToolResult): string {
  return tailLines(result.stderr.trim() === '' ? result.stdout : result.stderr, 5);
}
