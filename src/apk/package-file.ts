/**
 * Reads an apk v2 package in one streaming pass: signature member, control
 * member (.PKGINFO and scripts), data member (the files). While it flows,
 * the raw control member is SHA-1 hashed (the index's C: field) and checked
 * against the signature, the raw data member is SHA-256 hashed (.PKGINFO's
 * datahash) and each regular file's content is SHA-1 hashed against its
 * `APK-TOOLS.checksum.SHA1` PAX record. Nothing is written here: each data
 * entry goes to the caller's `onEntry`, which either plans (pass 1) or
 * writes (pass 2). Reference: apk-tools doc/apk-v2.5.scd, src/extract_v2.c.
 */
import { createHash, createVerify, type KeyObject, type Verify } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { PassThrough, Readable, Transform } from 'node:stream';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import tar from 'tar-stream';

type TarHeader = Omit<tar.Header, 'pax' | 'type'> & { type: tar.Header['type'] | 'pax-header' | 'pax-global-header'; pax?: Record<string, string> | null };
import { GzipError, splitGzipMembers } from './gzip-members.js';
import { EibError } from '../errors.js';
import { ApkPackageError } from './package-error.js';
import type { PackageInfo } from './types.js';

export const SCRIPT_NAMES = [
  'pre-install',
  'post-install',
  'pre-upgrade',
  'post-upgrade',
  'pre-deinstall',
  'post-deinstall',
  'trigger',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

/** .PKGINFO as key → values in file order (keys like `depend` repeat). */
export type PkgInfoFields = Map<string, string[]>;

export interface ApkControl {
  pkginfo: PkgInfoFields;
  /** Install scripts by name, without the leading dot. */
  scripts: Map<ScriptName, Buffer>;
  /** Trigger globs from .PKGINFO `triggers`. */
  triggers: string[];
  /** Name of the trusted key that signed it; undefined when unsigned and allowed. */
  signedBy: string | undefined;
}

export type ApkEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

/** One entry of the data member, path relative to the root (no leading slash). */
export interface ApkDataEntry {
  path: string;
  type: ApkEntryType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  /** Symlink target as written, or the hardlinked path (normalized, relative to root). */
  linkTarget?: string;
  /** SHA-1 from the PAX record (for symlinks: of the target text). */
  sha1?: Buffer;
  /** SCHILY.xattr.* records: name → value. */
  xattrs: Map<string, Buffer>;
}

export interface ReadApkOptions {
  /** The index entry: its C:, S: and I: are checked. */
  expected: PackageInfo;
  keys: ReadonlyMap<string, KeyObject>;
  allowUntrusted?: boolean;
  /** Called once the control member is verified, before any data entry. */
  onControl?: (control: ApkControl) => Promise<void> | void;
  /**
   * Called per data entry, in tar order; `content` is the entry's bytes
   * (empty for non-files) and must be consumed. Content of regular files
   * is checked against its SHA-1 after `onEntry` resolves: a writer must
   * not publish the file before `readApk` settles for that entry — use
   * the returned `verified` promise.
   */
  onEntry?: (entry: ApkDataEntry, content: Readable, verified: Promise<void>) => Promise<void>;
  /**
   * Stop once the control member is verified (signature, C: checksum, name
   * and version): the result's datahash is empty and dataSize 0. For reading
   * what a package says about itself without installing it.
   */
  controlOnly?: boolean;
}

export interface ApkReadResult {
  control: ApkControl;
  /** "Q1" + base64(sha1(control member)), as the index writes it. */
  checksum: string;
  /** Hex sha256 of the data member. */
  datahash: string;
  /** Bytes the data member inflated to. */
  dataSize: number;
}

const CONTROL_LIMIT = 16 * 1024 * 1024;
/** Thrown (and caught) to stop reading after the control member with `controlOnly`. */
class ControlRead extends Error {}
/** Data may exceed the installed size by tar headers and PAX records; beyond this it is a bomb. */
const DATA_SLACK = 8 * 1024 * 1024;

export function packageLabel(pkg: Pick<PackageInfo, 'name' | 'version'>): string {
  return `${pkg.name}-${pkg.version}`;
}

/** Splits a path into clean components; undefined for absolute paths or ones with `..`. */
export function safeRelativePath(raw: string): string | undefined {
  if (raw.startsWith('/')) return undefined;
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..' || p.includes('\0'))) return undefined;
  return parts.join('/');
}

export function parsePkgInfo(text: string): PkgInfoFields {
  const fields: PkgInfoFields = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const eq = line.indexOf(' = ');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 3).trim();
    const list = fields.get(key);
    if (list) list.push(value);
    else fields.set(key, [value]);
  }
  return fields;
}

async function readAll(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error(`${what} is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function drain(stream: Readable): Promise<void> {
  for await (const chunk of stream) void chunk;
}

/** Iterates tar entries of one member; the member is a tar possibly without end blocks (abuild cuts them). */
async function eachTarEntry(
  inflated: Readable,
  handle: (header: TarHeader, content: Readable) => Promise<void>,
): Promise<void> {
  const extract = tar.extract();
  // 'finish' can come before the last entry's handler settles: wait for it too.
  let current: Promise<void> = Promise.resolve();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, content, next) => {
      current = handle(header as TarHeader, Readable.from(content));
      current.then(
        () => next(),
        (e: unknown) => {
          content.resume();
          extract.destroy(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
    extract.on('finish', () => current.then(resolve, reject));
    extract.on('error', reject);
    extract.on('close', () => current.then(() => reject(new Error('tar stream closed early')), reject));
  });
  inflated.on('error', (e) => extract.destroy(e));
  inflated.pipe(extract);
  await done;
}

interface SignatureCheck {
  keyName: string;
  verify: Verify;
  signature: Buffer;
}

/**
 * Reads and verifies one .apk. Rejects with ApkPackageError naming the
 * package; `onEntry` failures are passed through unchanged.
 */
export async function readApk(file: FileHandle, options: ReadApkOptions): Promise<ApkReadResult> {
  const label = packageLabel(options.expected);
  const fail = (code: ConstructorParameters<typeof ApkPackageError>[0], reason: string, cause?: unknown): ApkPackageError =>
    new ApkPackageError(code, label, reason, cause === undefined ? {} : { cause });

  const stat = await file.stat();
  if (options.expected.size > 0 && stat.size !== options.expected.size) {
    throw fail('EBADSIZE', `the .apk is ${stat.size} bytes but the index says ${options.expected.size}; the download or the repository is corrupt`);
  }

  // Member roles: signature, control, data — or control, data when unsigned
  // (then member 0 is control, recognised by having no .SIGN.* entry).
  let signed = true;
  const controlIndex = (): number => (signed ? 1 : 0);
  const memberSha1 = [createHash('sha1'), createHash('sha1')];
  const dataHash = createHash('sha256');
  const signatures: SignatureCheck[] = [];
  let control: ApkControl | undefined;
  let dataSize = 0;
  let sawData = false;

  const collect = async (inflated: Readable): Promise<{ name: string; body: Buffer }[]> => {
    const entries: { name: string; body: Buffer }[] = [];
    await eachTarEntry(inflated, async (header, content) => {
      entries.push({ name: header.name, body: await readAll(content, CONTROL_LIMIT, header.name) });
    });
    return entries;
  };

  const useControl = (entries: { name: string; body: Buffer }[]): void => {
    const scripts = new Map<ScriptName, Buffer>();
    let pkginfo: PkgInfoFields | undefined;
    for (const { name, body } of entries) {
      if (name === '.PKGINFO') pkginfo = parsePkgInfo(body.toString('utf8'));
      const script = name.startsWith('.') ? (name.slice(1) as ScriptName) : undefined;
      if (script && (SCRIPT_NAMES as readonly string[]).includes(script)) scripts.set(script, body);
    }
    if (!pkginfo) throw fail('EBADAPK', 'the control member has no .PKGINFO');
    control = { pkginfo, scripts, triggers: (pkginfo.get('triggers') ?? []).flatMap((t) => t.split(/\s+/)).filter(Boolean), signedBy: undefined };
  };

  const onFirst = async (inflated: Readable): Promise<void> => {
    const entries = await collect(inflated);
    const signatureEntries = entries.filter((e) => e.name.startsWith('.SIGN.'));
    if (signatureEntries.length === 0) {
      signed = false;
      useControl(entries);
      return;
    }
    for (const { name, body } of signatureEntries) {
      const match = /^\.SIGN\.(RSA|RSA256)\.(.+)$/.exec(name);
      if (!match || !options.keys.has(match[2] ?? '')) continue;
      signatures.push({ keyName: match[2] ?? '', verify: createVerify(match[1] === 'RSA' ? 'sha1' : 'sha256'), signature: body });
    }
  };

  const onData = async (inflated: Readable): Promise<void> => {
    sawData = true;
    await eachTarEntry(inflated, async (header, content) => {
      const entry = dataEntry(header, fail);
      if (!entry) return drain(content);
      if (entry.type !== 'file') {
        if (options.onEntry) await options.onEntry(entry, content, Promise.resolve());
        return drain(content);
      }
      const expected = entry.sha1;
      if (!expected) throw fail('EINTEGRITY', `/${entry.path} has no APK-TOOLS.checksum.SHA1 record`);
      const hash = createHash('sha1');
      const hashed = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          callback(null, chunk);
        },
      });
      content.on('error', (e) => hashed.destroy(e));
      content.pipe(hashed);
      const verified = finished(hashed, { writable: true, readable: false }).then(() => {
        if (!hash.digest().equals(expected)) throw fail('EINTEGRITY', `/${entry.path} does not match its checksum`);
      });
      verified.catch(() => undefined);
      if (options.onEntry) await options.onEntry(entry, hashed, verified);
      if (!hashed.readableEnded) await drain(hashed);
      await verified;
    });
  };

  // The splitter hands over each member's inflated bytes; each member's tar
  // parser reads them from its own stream, with backpressure.
  const memberLimit = (index: number): number =>
    index === 0 ? CONTROL_LIMIT : index === controlIndex() ? CONTROL_LIMIT : options.expected.installedSize * 2 + DATA_SLACK;
  const dataMember = async (inflated: Readable): Promise<void> => {
    await checkControl();
    if (options.controlOnly) throw new ControlRead('control member read');
    return onData(inflated);
  };
  const handlerFor = (index: number): ((inflated: Readable) => Promise<void>) | undefined =>
    index === 0 ? onFirst : index === 1 ? (signed ? async (inflated) => useControl(await collect(inflated)) : dataMember) : index === 2 && signed ? dataMember : undefined;
  const streams: PassThrough[] = [];
  const consumers: Promise<void>[] = [];
  const inflatedSizes = [0, 0, 0];
  let firstError: unknown;
  const memberStream = (index: number): { stream: PassThrough; consumer: Promise<void> } => {
    const handler = handlerFor(index);
    if (!handler) throw (firstError ??= fail('EBADAPK', 'more than three gzip members; not an apk v2 package'));
    let stream = streams[index];
    if (!stream) {
      stream = new PassThrough();
      streams[index] = stream;
      const consumer = handler(stream);
      consumer.catch((e: unknown) => {
        firstError ??= e;
      });
      consumers[index] = consumer;
    }
    return { stream, consumer: consumers[index] as Promise<void> };
  };

  const source = readFrom(file);
  try {
    await splitGzipMembers(
      source,
      {
        raw: (index, chunk) => {
          if (index < 2) memberSha1[index]?.update(chunk);
          if (index === 1 && signed) {
            for (const s of signatures) s.verify.update(chunk);
          }
          if (index === controlIndex() + 1) {
            dataHash.update(chunk);
            dataSize += chunk.length;
          }
        },
        data: async (index, chunk) => {
          const { stream, consumer } = memberStream(index);
          inflatedSizes[index] = (inflatedSizes[index] ?? 0) + chunk.length;
          if ((inflatedSizes[index] ?? 0) > memberLimit(index)) {
            throw (firstError ??= fail('ETOOLARGE', `gzip member ${index + 1} inflates past ${memberLimit(index)} bytes, far more than the index's installed size; refusing a decompression bomb`));
          }
          if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), consumer]);
        },
        end: async (index) => {
          const { stream, consumer } = memberStream(index);
          stream.end();
          await consumer;
        },
      },
      label,
    );
  } catch (e) {
    for (const stream of streams) stream.destroy();
    const error = firstError ?? e;
    if (error instanceof ControlRead && control) return { control, checksum: controlChecksum(), datahash: '', dataSize: 0 };
    if (error instanceof EibError) {
      if (!(error instanceof GzipError)) throw error;
    }
    // I/O failures of the caller's writer are not the package's fault: keep them as they are.
    if ((error as NodeJS.ErrnoException | undefined)?.syscall !== undefined) throw error;
    if (error instanceof GzipError) {
      throw fail(/truncated|empty/.test(error.message) ? 'ETRUNCATED' : 'EBADAPK', error.message, error);
    }
    throw fail('EBADAPK', `not a valid apk v2 package: ${error instanceof Error ? error.message : String(error)}`, error);
  }
  if (!sawData || !control) throw fail('ETRUNCATED', 'the file ends before its data member');
  const datahash = dataHash.digest('hex');
  const expectedDatahash = control.pkginfo.get('datahash')?.[0];
  if (!expectedDatahash) throw fail('EINTEGRITY', '.PKGINFO has no datahash; eib only installs packages whose data is hashed');
  if (datahash !== expectedDatahash.toLowerCase()) {
    throw fail('EINTEGRITY', `the data member hashes to ${datahash} but .PKGINFO says ${expectedDatahash}`);
  }
  return { control, checksum: controlChecksum(), datahash, dataSize };

  function controlChecksum(): string {
    return `Q1${(memberSha1[controlIndex()] as ReturnType<typeof createHash>).copy().digest('base64')}`;
  }

  async function checkControl(): Promise<void> {
    if (!control) throw fail('EBADAPK', 'the control member has no .PKGINFO');
    const checksum = controlChecksum();
    if (options.expected.checksum && checksum !== options.expected.checksum) {
      throw fail('EINTEGRITY', `control checksum ${checksum} differs from the index's ${options.expected.checksum}; refresh the index or fix the repository`);
    }
    for (const s of signatures) {
      if (s.verify.verify(options.keys.get(s.keyName) as KeyObject, s.signature)) {
        control.signedBy = s.keyName;
        break;
      }
    }
    if (!control.signedBy && !options.allowUntrusted) {
      throw fail(
        'ESIGNATURE',
        signatures.length === 0
          ? 'not signed by any trusted key; add its signer\'s public key to alpine.keys'
          : `the signature by ${signatures.map((s) => s.keyName).join(', ')} does not verify`,
      );
    }
    const name = control.pkginfo.get('pkgname')?.[0];
    const version = control.pkginfo.get('pkgver')?.[0];
    if (name !== options.expected.name || version !== options.expected.version) {
      throw fail('EINTEGRITY', `.PKGINFO names ${name ?? '?'}-${version ?? '?'}, not the package the index describes`);
    }
    await options.onControl?.(control);
  }
}

function dataEntry(
  header: TarHeader,
  fail: (code: 'EUNSAFE' | 'EBADAPK', reason: string) => ApkPackageError,
): ApkDataEntry | undefined {
  const type = header.type;
  if (type === 'pax-global-header' || type === 'pax-header') return undefined;
  const path = safeRelativePath(header.name);
  if (path === undefined) throw fail('EUNSAFE', `entry ${JSON.stringify(header.name)} points outside the root`);
  if (path === '') {
    if (type === 'directory') return undefined;
    throw fail('EUNSAFE', `entry ${JSON.stringify(header.name)} would replace the root itself`);
  }
  const kind: ApkEntryType | undefined =
    type === 'file' || type === 'contiguous-file' ? 'file' : type === 'directory' ? 'directory' : type === 'symlink' ? 'symlink' : type === 'link' ? 'hardlink' : undefined;
  if (!kind) throw fail('EUNSAFE', `/${path} is a ${type ?? 'unknown entry'}; eib installs only files, directories and links`);
  const pax = header.pax ?? {};
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), Buffer.from(value, 'latin1'));
  }
  const sha1Hex = pax['APK-TOOLS.checksum.SHA1'];
  const entry: ApkDataEntry = {
    path,
    type: kind,
    mode: (header.mode ?? 0) & 0o7777,
    uid: header.uid ?? 0,
    gid: header.gid ?? 0,
    size: kind === 'file' ? header.size ?? 0 : 0,
    mtime: header.mtime ?? new Date(0),
    xattrs,
  };
  if (sha1Hex !== undefined) {
    if (!/^[0-9a-f]{40}$/i.test(sha1Hex)) throw fail('EBADAPK', `/${path} has a malformed checksum record`);
    entry.sha1 = Buffer.from(sha1Hex, 'hex');
  }
  if (kind === 'symlink') {
    if (!header.linkname) throw fail('EBADAPK', `symlink /${path} has no target`);
    entry.linkTarget = header.linkname;
  }
  if (kind === 'hardlink') {
    const target = safeRelativePath(header.linkname ?? '');
    if (!target) throw fail('EUNSAFE', `hardlink /${path} points outside the root (${JSON.stringify(header.linkname)})`);
    entry.linkTarget = target;
  }
  return entry;
}

/** Reads a file handle from offset 0 by position, leaving the handle open for another pass. */
async function* readFrom(file: FileHandle, chunkSize = 64 * 1024): AsyncGenerator<Buffer> {
  let position = 0;
  while (true) {
    const buffer = Buffer.allocUnsafe(chunkSize);
    const { bytesRead } = await file.read(buffer, 0, chunkSize, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}
