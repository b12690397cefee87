/**
 * `eib init` without the CLI: a commented starter project for a device
 * image (eib.yaml on an Alpine release with base / configure / prune
 * stages, an overlay, a chroot script, a .gitignore). It never overwrites:
 * when any of its files exists, nothing is written. The name and arch are
 * written into eib.yaml, which stays the one source of truth.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { SCHEMA_PATH } from '../config/schema.js';
import type { AlpineArch } from '../config/types.js';
import { EibError, UsageError } from '../errors.js';
import { lstatOrUndefined } from '../fs/stat.js';

export interface InitOptions {
  /** The project folder (created when absent). */
  readonly dir: string;
  /** Image name; default from the folder's name. */
  readonly name?: string;
  /** Target arch (default aarch64). */
  readonly arch?: AlpineArch;
}

export interface InitResult {
  readonly dir: string;
  readonly name: string;
  readonly arch: AlpineArch;
  /** The files written, relative to dir. */
  readonly files: readonly string[];
}

const NAME = /^[a-z0-9]+([._-][a-z0-9]+)*$/;

/** An image name from a folder name: lowercase, runs of other characters become one '-'. */
export function nameFromFolder(folder: string): string {
  const name = folder
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]{2,}/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '');
  return NAME.test(name) ? name : 'device';
}

function eibYaml(name: string, arch: AlpineArch): string {
  return `# yaml-language-server: $schema=${SCHEMA_PATH}
#
# ${name}: an Alpine Linux root filesystem for a device, built by eib.
#   eib build                  every stage, cached; writes out/oci and the outputs below
#   eib shell configure        a shell in the rootfs as the configure stage left it
#   eib export rootfs.ext4     or .tar, .tar.gz, .squashfs, …
# Every key is explained in eib's README (Configuration reference) and by
# editors that read the schema named on the first line.

name: ${name}
# The device's CPU: aarch64, armv7, armhf, x86_64, riscv64, … A list builds
# one image per arch. Foreign arches run under qemu-user, no setup needed.
arch: ${arch}

alpine:
  # The official main and community repositories of this Alpine release,
  # trusted with Alpine's signing keys (eib ships them). v3.21, edge, …
  release: v3.20
  # mirror: https://dl-cdn.alpinelinux.org/alpine   # a closer or internal mirror
  # repositories: [./my-repo]                        # your own packages, searched after the release's
  # keys: [./keys]                                   # and the keys that sign them

stages:
  # Each stage is one cached layer: changing one rebuilds it and those after it.

  # A bootable base system: alpine-base is busybox, openrc, apk-tools,
  # alpine-baselayout and friends. Add your packages here or in a stage of
  # their own (e.g. openssh, chrony, your application).
  - name: base
    packages: [alpine-base]

  # The device's own configuration: overlay/ is copied onto the root, then
  # scripts/configure.sh runs inside the image (hostname, a user, services).
  - name: configure
    files:
      - { src: overlay/, dest: / }
    run: scripts/configure.sh

  # What the device does not need: apk's download cache and documentation.
  - name: prune
    remove: [/var/cache/apk/*, /usr/share/man, /usr/share/doc]

outputs:
  oci: out/oci               # the OCI image (eib push sends it to a registry)
  rootfs: out/rootfs.tar.gz  # the flattened root filesystem
  # ext4: out/rootfs.ext4    # a filesystem image to flash

# cache:
#   dir: .cache              # default ~/.cache/eib; .gitignore lists .cache/
#   registry: registry.example.com/team/eib-cache   # share built stages with your team and CI
# registry:
#   ref: registry.example.com/team/${name}:latest   # where eib push sends the image
`;
}

function configureScript(name: string): string {
  return `#!/bin/sh
# Runs inside the image as root (emulated when the arch is foreign), after
# overlay/ has been copied. Keep it idempotent: eib reruns it whenever this
# file, the overlay or an earlier stage changes.
set -eu

echo ${name} > /etc/hostname

# A user to log in as. -D: no password yet (the account is locked); set one
# with 'echo "admin:secret" | chpasswd', or put an SSH key in
# overlay/home/admin/.ssh/authorized_keys and install openssh in base.
if ! id admin >/dev/null 2>&1; then
  adduser -D -s /bin/sh admin
fi

# Start the usual services at boot (openrc comes with alpine-base).
if command -v rc-update >/dev/null 2>&1; then
  for s in devfs dmesg mdev hwdrivers; do rc-update add "$s" sysinit; done
  for s in bootmisc hostname hwclock modules sysctl syslog networking; do rc-update add "$s" boot; done
  for s in mount-ro killprocs savecache; do rc-update add "$s" shutdown; done
fi
`;
}

function files(name: string, arch: AlpineArch): Record<string, { text: string; mode: number }> {
  return {
    'eib.yaml': { text: eibYaml(name, arch), mode: 0o644 },
    '.gitignore': { text: '# What eib writes: the image and outputs, and a project-local cache if cache.dir points here.\n/out/\n/.cache/\n', mode: 0o644 },
    'overlay/etc/motd': { text: `Welcome to ${name}, built with eib.\n`, mode: 0o644 },
    'overlay/etc/network/interfaces': { text: 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n', mode: 0o644 },
    'scripts/configure.sh': { text: configureScript(name), mode: 0o755 },
  };
}

/** Write the starter project into `options.dir`; refuses, writing nothing, when any of its files exists. */
export async function initProject(options: InitOptions): Promise<InitResult> {
  const dir = resolve(options.dir);
  const name = options.name ?? nameFromFolder(basename(dir));
  if (!NAME.test(name)) {
    throw new UsageError(`--name ${JSON.stringify(name)}: expected lowercase letters and digits, optionally separated by single '.', '_' or '-' (like "sensor-gw")`);
  }
  const arch = options.arch ?? 'aarch64';
  const planned = files(name, arch);
  const existing: string[] = [];
  for (const path of Object.keys(planned)) {
    if ((await lstatOrUndefined(join(dir, path))) !== undefined) existing.push(path);
  }
  const present = await lstatOrUndefined(dir);
  if (present !== undefined && !present.isDirectory()) throw new UsageError(`${dir} exists and is not a folder; give eib init a folder (new or existing)`);
  if (existing.length > 0) {
    const shown = relative(process.cwd(), dir) || '.';
    throw new UsageError(`${shown} already has ${existing.join(', ')}; eib init never overwrites a file, and changed nothing (use an empty folder: eib init NEW-FOLDER)`);
  }
  const written: string[] = [];
  for (const [path, { text, mode }] of Object.entries(planned)) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    try {
      // 'wx': a file that appeared since the check is not overwritten either.
      await writeFile(target, text, { flag: 'wx', mode });
    } catch (e) {
      throw new EibError('EINIT', `writing ${target}: ${(e as Error).message}`, { cause: e });
    }
    written.push(path);
  }
  return { dir, name, arch, files: written };
}
