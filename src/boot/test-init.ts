/**
 * Test mode's PID 1: a small shell script, added to the initramfs as a
 * second cpio archive (the kernel unpacks concatenated archives in order)
 * together with the boot.test scripts, and started with rdinit=. It does
 * what an init's first steps do — mount /proc, /sys, /dev (devtmpfs),
 * /dev/pts and /dev/shm on the image's own directories, and set the
 * hostname from /etc/hostname — then runs the test scripts with the
 * image's /bin/sh, one after the other (`sh -e`, like `run`), prints
 * the exit code between markers eib looks for on the console, and
 * powers the machine off. The image's files are not changed: /eib-boot
 * and /dev/console exist only in the machine's memory.
 *
 * Why not the image's own init: what it starts (openrc, getty, nothing)
 * differs from image to image, and a test must run on every image that
 * has a kernel-bootable root and a shell.
 */
import { gzipSync } from 'node:zlib';
import { CPIO_TYPE, newcEntry, newcTrailer } from '../export/cpio.js';

/** Where the init and the scripts are, inside the machine. */
export const TEST_DIR = 'eib-boot';
export const TEST_INIT = `/${TEST_DIR}/init`;

/** Lines the init prints; `nonce` keeps a test's own output from faking them. */
export function markers(nonce: string): { started: string; exit: RegExp } {
  return { started: `eib-boot-${nonce}: started`, exit: new RegExp(`^eib-boot-${nonce}: exit (\\d+)\\s*$`) };
}

function initScript(nonce: string, count: number): string {
  return `#!/bin/sh
# eib boot: test mode init (see src/boot/test-init.ts)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=linux
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o nosuid,noexec,gid=5,mode=0620 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev shm /dev/shm
[ -s /etc/hostname ] && hostname -F /etc/hostname
cd /
echo "eib-boot-${nonce}: started"
code=0
i=1
while [ $i -le ${count} ]; do
  /bin/sh -e /${TEST_DIR}/test-$i
  code=$?
  [ $code -eq 0 ] || break
  i=$((i + 1))
done
echo "eib-boot-${nonce}: exit $code"
sync
poweroff -f 2>/dev/null
echo o > /proc/sysrq-trigger
sleep 60
`;
}

/** The gzip cpio archive of the init and the test scripts, appended after the image's. */
export function testArchive(scripts: readonly string[], nonce: string): Buffer {
  const root = { uid: 0, gid: 0, mtime: 0, rdevmajor: 0, rdevminor: 0 };
  let ino = 1;
  const entries = [
    newcEntry(TEST_DIR, { ...root, ino: ino++, mode: CPIO_TYPE.dir | 0o755 }),
    newcEntry(TEST_INIT.slice(1), { ...root, ino: ino++, mode: CPIO_TYPE.file | 0o755, data: Buffer.from(initScript(nonce, scripts.length)) }),
    ...scripts.map((text, i) => newcEntry(`${TEST_DIR}/test-${i + 1}`, { ...root, ino: ino++, mode: CPIO_TYPE.file | 0o755, data: Buffer.from(text) })),
    // The kernel opens /dev/console for PID 1 before /dev is mounted; an image need not ship the node.
    newcEntry('dev/console', { ...root, ino: ino++, mode: CPIO_TYPE.char | 0o600, rdevmajor: 5, rdevminor: 1 }),
    newcTrailer(),
  ];
  return gzipSync(Buffer.concat(entries));
}
