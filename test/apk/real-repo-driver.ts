/**
 * Entry point the end-to-end test runs as the unprivileged test user:
 * enters the sandbox namespace with the task above and prints its report.
 */
import { runInNamespace } from '../../src/sandbox/namespace.js';
import { installRealRepoTask, type RealRepoPayload } from './real-repo-task.js';

const payload: unknown = JSON.parse(process.argv[2] ?? '{}');
const report = await runInNamespace(installRealRepoTask, payload as RealRepoPayload);
process.stdout.write(JSON.stringify(report));
