// The namespace entry's program when eib runs from its bundle (see launch.ts and sandbox/entry-command.ts).
import { fileURLToPath } from 'node:url';
import { launch } from './launch.js';

await launch(fileURLToPath(new URL('../../eib-namespace.cjs', import.meta.url)), { entry: 'namespace' });
