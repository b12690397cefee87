/**
 * Runs inside the namespace: snapshots and scratch folders hold files of
 * subordinate ids that the user cannot remove from outside.
 */
import { rm } from 'node:fs/promises';
import { namespaceTask } from '../sandbox/task.js';

async function removeTrees(payload: { paths: string[] }): Promise<{ removed: number }> {
  for (const path of payload.paths) await rm(path, { recursive: true, force: true });
  return { removed: payload.paths.length };
}

export const removeTreesTask = namespaceTask(import.meta.url, 'removeTreesTask', removeTrees);
