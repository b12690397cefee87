/** mount(8) and umount(8) from util-linux, with failures as SandboxErrors. */
import { SandboxError } from './errors.js';
import { findTool, runTool } from '../fs/tool.js';

function tool(name: 'mount' | 'umount'): string {
  const path = findTool(name) ?? findTool(`/usr/bin/${name}`) ?? findTool(`/bin/${name}`);
  if (path === undefined) throw new SandboxError('EEXEC', `${name} was not found on PATH; install util-linux (Debian/Ubuntu: apt install mount)`);
  return path;
}

/** Run `mount ARGS…`; `what` names the mount in the error. */
export async function mount(args: readonly string[], what: string, options: { cwd?: string } = {}): Promise<void> {
  const r = await runTool([tool('mount'), ...args], options);
  if (r.code !== 0) throw new SandboxError('EMOUNT', `could not mount ${what}: ${r.stderr.trim() || `mount exited with code ${r.code}`}`);
}

/** Unmount `target` and everything below it; lazily if it is still busy. */
export async function unmountTree(target: string): Promise<void> {
  const r = await runTool([tool('umount'), '--recursive', target]);
  if (r.code === 0) return;
  // Submounts bound from the host (/sys/fs/cgroup) are locked to their
  // parent in a user namespace and only go away with it; and a process the
  // stage left running may still hold a mount. Detaching the whole tree
  // handles both; the namespace's end releases the rest.
  const lazy = await runTool([tool('umount'), '--lazy', target]);
  if (lazy.code !== 0) throw new SandboxError('EMOUNT', `could not unmount ${target}: ${lazy.stderr.trim() || r.stderr.trim()}`);
}
