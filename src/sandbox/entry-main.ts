/** The namespace entry as a program of its own (dist/src): tasks' modules are imported by their file URLs. */
import { runNamespaceEntry } from './entry.js';

runNamespaceEntry((url) => import(url) as Promise<Record<string, unknown>>);
