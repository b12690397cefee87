/** Finding e2fsprogs' programs, which live in /sbin or /usr/sbin, often not on a user's PATH. */
import { HostError } from '../errors.js';
import { findTool } from '../fs/tool.js';

export type E2fsTool = 'mke2fs' | 'debugfs' | 'dumpe2fs';

export function e2fsTool(name: E2fsTool): string {
  const path = findTool(name) ?? findTool(name, '/usr/sbin:/sbin');
  if (path === undefined) {
    throw new HostError(`${name} was not found (looked on PATH, /usr/sbin and /sbin); ext4 export needs e2fsprogs 1.43 or later: install it (Debian/Ubuntu: apt install e2fsprogs)`);
  }
  return path;
}
