/**
 * Putting a finished upperdir in place as a checkpoint's snapshot
 * (<cache>/snapshots/<key>). A snapshot already there may be mounted as a
 * lower layer by another eib process, so it is never removed or written
 * into: it is renamed aside into <cache>/tmp (a mount follows the directory,
 * not its name), where eib gc deletes it once no process uses the cache.
 * Runs inside the namespace: snapshots hold files of subordinate ids.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Move `upper` to `snapshot`, retiring whatever is at `snapshot` first. */
export async function publishSnapshot(upper: string, snapshot: string): Promise<void> {
  await mkdir(dirname(snapshot), { recursive: true });
  try {
    // An empty directory at `snapshot` is replaced by this rename; a non-empty one refuses it.
    await rename(upper, snapshot);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
  }
  const tmp = join(dirname(dirname(snapshot)), 'tmp');
  await mkdir(tmp, { recursive: true });
  await rename(snapshot, join(tmp, `replaced-${basename(snapshot)}-${randomBytes(4).toString('hex')}`));
  await rename(upper, snapshot);
}
