/**
 * Files handed to qemu by descriptor rather than by name: each is created
 * in the temporary folder and unlinked at once, then passed to qemu as fd
 * 3, 4, … and named on its command line as /dev/fd/N. So nothing is left
 * on disk whatever happens to eib (SIGKILL included): the kernel frees
 * the data when the last of eib and qemu closes it.
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

/** The first descriptor after stdin, stdout and stderr. */
const FIRST_FD = 3;

export class PassedFiles {
  private readonly handles: FileHandle[] = [];

  constructor(private readonly dir: string = tmpdir()) {}

  /** A new anonymous file and the path qemu opens it by. */
  async create(what: string): Promise<{ handle: FileHandle; path: string }> {
    const name = join(this.dir, `.eib-boot-${what}-${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(name, 'wx+', 0o600);
    await unlink(name);
    this.handles.push(handle);
    return { handle, path: `/dev/fd/${FIRST_FD + this.handles.length - 1}` };
  }

  /**
   * A stream that appends to `handle`. Not handle.createWriteStream: such a
   * stream holds the handle open until it closes it, and the handle must
   * outlive the writing (qemu reads it afterwards).
   */
  static appender(handle: FileHandle): Writable {
    return new Writable({
      write(chunk: Buffer, _encoding, done): void {
        handle.write(chunk, 0, chunk.length, null).then(() => done(), done);
      },
    });
  }

  /** The descriptors, in the order of their /dev/fd numbers (for spawn's stdio from index 3). */
  fds(): number[] {
    return this.handles.map((h) => h.fd);
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.close().catch(() => undefined)));
    this.handles.length = 0;
  }
}
