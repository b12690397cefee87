/**
 * Running commands for a stage, inside the namespace: in the stage root
 * (chroot; we are uid 0 of the user namespace) or on the host side. Both
 * start from a clean environment, propagate the exit code (a signal n
 * becomes 128 + n) and forward termination signals to the command.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, lstatSync, openSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from './errors.js';
import { hostUmountLaunch } from './host-umount.js';
import { exitCodeOfSignal, findTool } from '../fs/tool.js';

export const CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface CommandOptions {
  /** Added to the clean environment (PATH, HOME=/root, TERM when interactive). */
  env?: Readonly<Record<string, string>>;
  /** Working directory: inside the root for runInChroot, on the host for runOnHost. */
  cwd?: string;
  /** 'pipe' captures stdout and stderr; default 'inherit'. */
  stdio?: 'inherit' | 'pipe';
  /** Pass stdin and the TTY through (a shell); TERM is kept. */
  interactive?: boolean;
}

export interface CommandResult {
  code: number;
  stdout?: string;
  stderr?: string;
}

/** Where the host's root hangs, inside the stage's private tmpfs /dev, between pivot_root and its detach (made with /dev: mounts.ts). */
export const HOST_ROOT = '/dev/.eib-host';

/**
 * Enters the stage root from a fresh mount and pid namespace (run as
 * `sh -c ENTER_ROOT name ROOT BIND DEV LOADER LIBS UMOUNT CMD…`, see
 * rootMounts and hostUmountLaunch):
 * - the stage's /proc shows eib's namespace, whose /proc/1/root leads back
 *   to the host side; a /proc of the new pid namespace replaces it;
 * - pivot_root makes the stage root the namespace's root (bound onto
 *   itself first when BIND says it is no mount point), with the host's
 *   root put under /dev (a tmpfs, checked by the caller, so nothing reaches
 *   the layer), and the host's umount detaches it: no chroot escape finds
 *   the host behind.
 * Every process started here costs a few milliseconds per script, so the
 * checks that need no mount namespace of their own are the caller's.
 */
const ENTER_ROOT = [
  'root=$1; bind=$2; dev=$3; loader=$4; libs=$5; umount_bin=$6; shift 6',
  'fail() { echo "eib: cannot enter the stage root $root: $1" >&2; exit 125; }',
  'if [ -d "$root/proc" ]; then',
  '  umount -l "$root/proc" 2>/dev/null',
  '  mount -t proc -o nosuid,nodev,noexec proc "$root/proc" || fail "mounting /proc"',
  'fi',
  '[ "$bind" = mounted ] || mount --rbind "$root" "$root" || fail "binding it"',
  `[ "$dev" = private ] && { [ -d "$root${HOST_ROOT}" ] || mkdir "$root${HOST_ROOT}"; } || fail "no private /dev"`,
  `cd "$root" && pivot_root . ".${HOST_ROOT}" || fail "pivot_root"`,
  'if [ -n "$loader" ]; then "$loader" --library-path "$libs" "$umount_bin" -n -l "' + HOST_ROOT + '"; else "$umount_bin" -n -l "' + HOST_ROOT + '"; fi || fail "detaching the host root"',
  'cd / && exec "$@"',
].join('\n');

/**
 * [BIND, DEV] for ENTER_ROOT, from lstat (never following a symlink a
 * package may have put there): BIND is "mounted" when the root is on
 * another device than its parent (a same-device mount point is simply bound
 * again); DEV is "private" when its /dev is a directory on a device of its
 * own, where the host's root can be parked without reaching the layer.
 */
function rootMounts(root: string): [string, string] {
  const stat = (path: string): Stats | undefined => {
    try {
      return lstatSync(path);
    } catch {
      return undefined;
    }
  };
  const self = stat(root);
  const parent = stat(join(root, '..'));
  const dev = stat(join(root, 'dev'));
  const mounted = self !== undefined && parent !== undefined && parent.dev !== self.dev;
  const devPrivate = self !== undefined && dev !== undefined && dev.isDirectory() && dev.dev !== self.dev;
  return [mounted ? 'mounted' : 'bind', devPrivate ? 'private' : 'shared'];
}

/**
 * Run `argv` inside the root directory `root` with chroot(8). Scripts run
 * in their own mount and pid namespace (see ENTER_ROOT); an interactive
 * shell (the user's own session) is chrooted directly.
 */
export function runInChroot(root: string, argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  if (argv.length === 0) throw new SandboxError('EEXEC', 'runInChroot: no command given');
  const search = `${process.env['PATH'] ?? ''}:${CLEAN_PATH}`;
  // The command always starts in /; a shell inside changes to the requested directory.
  const inner = options.cwd === undefined || options.cwd === '/' ? [...argv] : ['/bin/sh', '-c', 'cd -- "$0" && exec "$@"', options.cwd, ...argv];
  if (!options.interactive) {
    const unshare = findTool('unshare', search);
    const sh = findTool('sh', search);
    if (unshare === undefined || sh === undefined) throw new SandboxError('EEXEC', 'unshare or sh was not found on PATH; install util-linux and dash');
    const enter = [unshare, '--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', sh, '-c', ENTER_ROOT, 'eib-enter-root', root, ...rootMounts(root), ...hostUmountLaunch(HOST_ROOT, search)];
    return runCommand([...enter, ...inner], { ...options, cwd: '/' }, `${argv[0]} in ${root}`);
  }
  const chroot = findTool('chroot', search);
  if (chroot === undefined) throw new SandboxError('EEXEC', 'chroot was not found on PATH; install coreutils');
  return runCommand([chroot, root, ...inner], { ...options, cwd: '/' }, `${argv[0]} in ${root}`);
}

/** Run `argv` on the host side of the namespace (host-run scripts; the caller sets $ROOTFS). */
export function runOnHost(argv: readonly string[], options: Omit<CommandOptions, 'interactive'> = {}): Promise<CommandResult> {
  if (argv.length === 0) throw new SandboxError('EEXEC', 'runOnHost: no command given');
  return runCommand(argv, options, argv[0]!);
}

function cleanEnv(options: CommandOptions): Record<string, string> {
  const env: Record<string, string> = { PATH: CLEAN_PATH, HOME: '/root' };
  const term = process.env['TERM'];
  if (options.interactive && term !== undefined) env['TERM'] = term;
  return { ...env, ...options.env };
}

function runCommand(argv: readonly string[], options: CommandOptions, what: string): Promise<CommandResult> {
  const capture = options.stdio === 'pipe';
  // fd 3 of the namespace entry is eib's channel: give children /dev/null
  // there instead of letting it leak into scripts.
  const devNull = openSync('/dev/null', 'r+');
  const stdio: StdioOptions = [options.interactive ? 'inherit' : 'ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit', devNull];
  const forwarded: NodeJS.Signals[] = options.interactive ? ['SIGTERM', 'SIGHUP'] : ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT'];

  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio, env: cleanEnv(options), ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
    closeSync(devNull);
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    for (const sig of forwarded) process.on(sig, forward);
    const cleanup = (): void => {
      for (const sig of forwarded) process.off(sig, forward);
    };
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => {
      cleanup();
      reject(new SandboxError('EEXEC', `could not run ${what}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      cleanup();
      const result: CommandResult = { code: code ?? exitCodeOfSignal(signal) };
      resolvePromise(capture ? { ...result, stdout, stderr } : result);
    });
  });
}
