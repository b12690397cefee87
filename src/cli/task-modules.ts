/**
 * Every module that exports namespace tasks, by its path in dist/: what the
 * bundled namespace entry loads a task from (test/architecture.test.ts
 * checks that no such module is missing).
 */
export const TASK_MODULES: Readonly<Record<string, () => Promise<Record<string, unknown>>>> = {
  'src/export/disk-task.js': () => import('../export/disk-task.js'),
  'src/export/ext4-task.js': () => import('../export/ext4-task.js'),
  'src/export/tree-image-task.js': () => import('../export/tree-image-task.js'),
  'src/pipeline/gc-task.js': () => import('../pipeline/gc-task.js'),
  'src/pipeline/stage-task.js': () => import('../pipeline/stage-task.js'),
  'src/pipeline/verify-task.js': () => import('../pipeline/verify-task.js'),
  'src/remote/snapshot-task.js': () => import('../remote/snapshot-task.js'),
  'src/sandbox/doctor.js': () => import('../sandbox/doctor.js'),
  'src/sandbox/shell.js': () => import('../sandbox/shell.js'),
};
