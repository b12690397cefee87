/**
 * The normalized configuration every library module works from: defaults
 * filled in, paths absolute, scripts split into inline text or files.
 * The file format itself is described by schemas/eib.schema.json.
 */

export const ALPINE_ARCHES = ['aarch64', 'armv7', 'armhf', 'x86', 'x86_64', 'riscv64', 'ppc64le', 's390x', 'loongarch64'] as const;
export type AlpineArch = (typeof ALPINE_ARCHES)[number];

/** A shell script given inline in the config, or a file (absolute path). */
export type Script = { readonly inline: string } | { readonly file: string };

export interface FileCopy {
  /** Absolute host path; a trailing slash copies a directory's contents. */
  readonly src: string;
  /** Absolute path inside the rootfs. */
  readonly dest: string;
  /** "uid:gid" (numeric) applied to everything copied; default 0:0. */
  readonly owner?: string;
  /** Octal mode string, e.g. "0644", applied to copied files. */
  readonly mode?: string;
}

export interface Stage {
  readonly name: string;
  /** apk world entries added by this stage ("name", "name>=1.2", …). */
  readonly packages: readonly string[];
  readonly files: readonly FileCopy[];
  /** On the host side, inside the namespace, with $ROOTFS set. */
  readonly hostRun: readonly Script[];
  /** Inside the chroot, emulated when the arch is foreign. */
  readonly run: readonly Script[];
  /** Absolute rootfs paths or globs removed at the end of the stage. */
  readonly remove: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Whether scripts of this stage may use the network (default false). */
  readonly network: boolean;
}

export interface AlpineConfig {
  /** http(s) URLs, or absolute local paths of repositories. */
  readonly repositories: readonly string[];
  /** Absolute paths of trusted *.rsa.pub files (directories expanded). */
  readonly keys: readonly string[];
  /** Install from unsigned or untrusted repositories (loudly). */
  readonly allowUntrusted: boolean;
  /** A failing install script fails the build (apk-tools only warns). */
  readonly scriptsFatal: boolean;
  /** What the image's /etc/apk/repositories lists, as written (never a host path unless the user wrote one). */
  readonly imageRepositories: readonly string[];
}

export interface Outputs {
  /** OCI image layout directory (absolute). */
  readonly oci: string;
  readonly tag: string;
  /** Written by `eib build` when set: flattened rootfs tar (.tar, .tar.gz). */
  readonly rootfs?: string;
  /** Written by `eib build` when set: ext4 image. */
  readonly ext4?: string;
  /** Written by `eib build` when set: squashfs image (.squashfs, .sqfs). */
  readonly squashfs?: string;
  /** Written by `eib build` when set: erofs image (.erofs). */
  readonly erofs?: string;
  /** Bytes the flattened rootfs may take at most (regular files); a build over it fails. */
  readonly maxSize?: number;
  /** Written by `eib build` when set: cpio newc initramfs (.cpio.gz, .cpio). */
  readonly initramfs?: string;
  /** Written by `eib build` when set: a partitioned disk image. */
  readonly disk?: DiskOutput;
}

/** `eib boot`: the virtual machine and the test run in it. */
export interface BootConfig {
  /** Absolute path of a kernel for images without /boot/vmlinuz-*. */
  readonly kernel?: string;
  /** Extra kernel arguments ("" when none). */
  readonly append: string;
  /** MiB; default 512. */
  readonly memory: number;
  /** Seconds a test run may take; default 120. */
  readonly timeout: number;
  /** Run in the booted system; empty: an interactive boot. */
  readonly test: readonly Script[];
  /** A virtio network card on qemu's user-mode network. */
  readonly network: boolean;
}

/** Where a key's value is in the config file, for errors found after loading (a disk layout that does not fit). */
export interface ConfigLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export type PartitionType = 'vfat' | 'ext4' | 'squashfs' | 'erofs' | 'raw';

/** Bytes from the host (absolute path) or from a file of the image (absolute path inside the rootfs). */
export type ByteSource = { readonly host: string } | { readonly image: string };

export interface DiskPartition {
  readonly name: string;
  readonly type: PartitionType;
  /** Bytes, or auto: what the content needs plus headroom. */
  readonly size: number | 'auto';
  /** With auto: a fraction of the content (0.2) or bytes added. */
  readonly headroom: { readonly fraction: number } | { readonly bytes: number };
  /** Byte offset on the disk; default after the previous partition, aligned. */
  readonly start?: number;
  /** "rootfs" (what no other partition takes) or an absolute folder of the image. */
  readonly content?: string;
  /** Absolute host paths copied into the partition's top folder (a trailing / copies a folder's contents). */
  readonly files: readonly string[];
  /** raw partitions: where their bytes come from. */
  readonly source?: ByteSource;
  readonly label?: string;
  readonly bootable: boolean;
  readonly gptType?: string;
  /** Hex byte, like "0c". */
  readonly mbrType?: string;
  readonly uuid?: string;
  readonly at: ConfigLocation;
  /** Where size (or the entry) and start are written, for layout errors. */
  readonly sizeAt: ConfigLocation;
  readonly startAt: ConfigLocation;
}

export interface RawWrite {
  readonly offset: number;
  readonly source: ByteSource;
  readonly at: ConfigLocation;
}

export interface DiskOutput {
  /** Absolute path of the image. */
  readonly path: string;
  readonly table: 'gpt' | 'mbr';
  /** Bytes; default the end of the last partition. */
  readonly size?: number;
  readonly align: number;
  readonly bmap: boolean;
  readonly compress: readonly ('gz' | 'zst')[];
  readonly partitions: readonly DiskPartition[];
  readonly raw: readonly RawWrite[];
  readonly at: ConfigLocation;
}

export interface CacheConfig {
  /** Absolute; default $XDG_CACHE_HOME/eib or ~/.cache/eib. */
  readonly dir: string;
  /** Optional shared stage cache, host[:port]/repository. */
  readonly registry?: string;
}

export interface RegistryConfig {
  /** host[:port]/repository[:tag] that `eib push` sends the image to. */
  readonly ref: string;
  /** Allow plain http for this registry. */
  readonly insecure: boolean;
  /** Extra CA certificate (absolute path) to trust for this registry. */
  readonly ca?: string;
}

export interface Config {
  /** Absolute path of the configuration file. */
  readonly file: string;
  /** Folder relative paths resolve against. */
  readonly dir: string;
  readonly name: string;
  /** One or more Alpine arches; builds run once per arch. */
  readonly arch: readonly AlpineArch[];
  readonly alpine: AlpineConfig;
  readonly stages: readonly Stage[];
  readonly outputs: Outputs;
  readonly cache: CacheConfig;
  readonly registry?: RegistryConfig;
  /** Always set by loadConfig; optional for configs made in code. */
  readonly boot?: BootConfig;
  /** The effective build time for reproducible builds (seconds): `epoch`, else $SOURCE_DATE_EPOCH at load time. */
  readonly epoch?: number;
}
