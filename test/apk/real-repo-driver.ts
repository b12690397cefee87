/**
 * Entry point the end-to-end test runs as the unprivileged test user:
 * enters the sandbox namespace with the task above and prints its report.
 */
import { runInNamespace } from '../../src/sandbox/namespace.js';
import type { RealRepoReport } from './real-repo-task.js';

const payload: unknown = JSON.parse(process.argv[2] ?? '{}');
const report = await runInNamespace<RealRepoReport>({
  module: new URL('./real-repo-task.js', import.meta.url).href,
  fn: 'installRealRepo',
  payload,
});
process.stdout.write(JSON.stringify(report));
