/**
 * Runs inside the namespace: snapshots and scratch folders hold files of
 * subordinate ids that the user cannot remove from outside.
 */
import { rm } from 'node:fs/promises';

export async function removeTrees(payload: { paths: string[] }): Promise<{ removed: number }> {
  for (const path of payload.paths) await rm(path, { recursive: true, force: true });
  return { removed: payload.paths.length };
}
