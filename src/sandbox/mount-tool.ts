/**
 * mount(8) and umount(8) from util-linux, with failures as SandboxErrors.
 * A stage mounts a dozen filesystems: they go to one shell in as few
 * batches as their order allows (mountAll), since each process Node starts
 * costs several milliseconds, more than the mount itself.
 */
import { SandboxError } from './errors.js';
import { findTool, runTool } from '../fs/tool.js';

function tool(name: 'mount' | 'umount'): string {
  const path = findTool(name) ?? findTool(`/usr/bin/${name}`) ?? findTool(`/bin/${name}`);
  if (path === undefined) throw new SandboxError('EEXEC', `${name} was not found on PATH; install util-linux (Debian/Ubuntu: apt install mount)`);
  return path;
}

function shell(): string {
  const sh = findTool('sh') ?? findTool('/bin/sh');
  if (sh === undefined) throw new SandboxError('EEXEC', 'sh was not found on PATH; install dash');
  return sh;
}

/** One mount(8) call: its arguments, what it mounts (for the error), and the folder to run it in. */
export interface MountOp {
  args: readonly string[];
  what: string;
  cwd?: string;
}

/** Run `mount ARGS…`; `what` names the mount in the error. */
export async function mount(args: readonly string[], what: string, options: { cwd?: string } = {}): Promise<void> {
  await mountAll([{ args, what, ...options }]);
}

const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
const FAILED = 'eib-mount-failed:';

/** Run the mounts in order, in one shell; the first failure stops it and is thrown, naming its mount. */
export async function mountAll(ops: readonly MountOp[]): Promise<void> {
  if (ops.length === 0) return;
  const mountBin = tool('mount');
  const lines = ops.map((op, i) => {
    const call = [mountBin, ...op.args].map(quote).join(' ');
    const run = op.cwd === undefined ? call : `(cd ${quote(op.cwd)} && exec ${call})`;
    return `${run} || { echo ${FAILED}${i} >&2; exit 1; }`;
  });
  const r = await runTool([shell(), '-c', lines.join('\n')]);
  if (r.code === 0) return;
  const match = new RegExp(`${FAILED}(\\d+)`).exec(r.stderr);
  const op = match === null ? undefined : ops[Number(match[1])];
  const said = r.stderr.replace(new RegExp(`${FAILED}\\d+\\n?`), '').trim();
  throw new SandboxError('EMOUNT', `could not mount ${op?.what ?? 'the stage root'}: ${said || `mount exited with code ${r.code}`}`);
}

/** Unmount `target` and everything below it; lazily if it is still busy. */
export async function unmountTree(target: string): Promise<void> {
  const r = await runTool([tool('umount'), '--recursive', target]);
  if (r.code === 0) return;
  // Submounts bound from the host (/sys/fs/cgroup) are locked to their
  // parent in a user namespace and only go away with it; and a process the
  // stage left running may still hold a mount. Detaching the whole tree
  // handles both; the namespace's end releases the rest.
  await detachTrees([target]);
}

/**
 * Detach each target and every mount below it at once (MNT_DETACH), in
 * one process: for trees whose processes have ended, where nothing can be
 * busy, and whose submounts bound from the host (/sys/fs/cgroup) are
 * locked to their parent in a user namespace and cannot go one by one.
 */
export async function detachTrees(targets: readonly string[]): Promise<void> {
  if (targets.length === 0) return;
  const r = await runTool([tool('umount'), '--lazy', ...targets]);
  if (r.code !== 0) throw new SandboxError('EMOUNT', `could not unmount ${targets.join(', ')}: ${r.stderr.trim() || `umount exited with code ${r.code}`}`);
}
