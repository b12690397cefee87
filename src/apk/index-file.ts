/**
 * APKINDEX.tar.gz: a signature gzip member (tar of .SIGN.RSA*.<key>) then a
 * gzip member holding a tar of DESCRIPTION and APKINDEX. The signature is
 * over the raw bytes of that second member, hashed here as they stream; the
 * APKINDEX text is parsed as it inflates. Nothing is returned before the
 * signature checks out. Field letters: apk-tools doc/apk-v2.5.scd.
 */
import type { KeyObject } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import tar from 'tar-stream';
import { EibError } from '../errors.js';
import { splitGzipMembers } from './gzip-members.js';
import { SignedStreamVerifier, readSignatureTar, type SignatureFile } from './signature.js';
import type { PackageInfo } from './types.js';

export class IndexError extends EibError<'EINDEX'> {
  constructor(message: string) {
    super('EINDEX', message);
  }
}

/** Signature tars are a few hundred bytes; anything bigger is not one. */
const SIGNATURE_LIMIT = 1 << 20;

/** Incremental parser of APKINDEX text: blank-line separated records of `X:value` lines. */
export class ApkIndexParser {
  readonly packages: PackageInfo[] = [];
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private fields = new Map<string, string[]>();
  private line = 0;
  private recordLine = 1;

  constructor(
    private readonly what: string,
    private readonly repository: string,
  ) {}

  write(chunk: Buffer | string): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const l of lines) this.addLine(l);
  }

  end(): PackageInfo[] {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.addLine(rest);
    this.flush();
    return this.packages;
  }

  private addLine(l: string): void {
    this.line++;
    if (l === '') return this.flush();
    if (this.fields.size === 0) this.recordLine = this.line;
    if (l.length < 2 || l[1] !== ':') throw new IndexError(`${this.what}: APKINDEX line ${this.line}: expected "X:value", got "${l.slice(0, 60)}"`);
    const key = l[0]!;
    const values = this.fields.get(key);
    if (values) values.push(l.slice(2));
    else this.fields.set(key, [l.slice(2)]);
  }

  private flush(): void {
    if (this.fields.size === 0) return;
    const f = this.fields;
    this.fields = new Map();
    const one = (k: string): string | undefined => f.get(k)?.[0];
    const list = (k: string): string[] => (f.get(k) ?? []).flatMap((v) => v.split(/\s+/)).filter((s) => s !== '');
    const int = (k: string): number | undefined => {
      const v = one(k);
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v)) throw new IndexError(`${this.what}: APKINDEX entry at line ${this.recordLine}: ${k}: "${v}" is not a number`);
      return Number(v);
    };
    const name = one('P');
    const version = one('V');
    if (!name || !version) throw new IndexError(`${this.what}: APKINDEX entry at line ${this.recordLine} has no ${name ? 'V: (version)' : 'P: (name)'}`);
    const pkg: PackageInfo = {
      name,
      version,
      arch: one('A') ?? '',
      size: int('S') ?? 0,
      installedSize: int('I') ?? 0,
      description: one('T') ?? '',
      url: one('U') ?? '',
      license: one('L') ?? '',
      depends: list('D'),
      provides: list('p'),
      installIf: list('i'),
      replaces: list('r'),
      checksum: one('C') ?? '',
      repository: this.repository,
    };
    const origin = one('o');
    if (origin !== undefined) pkg.origin = origin;
    const maintainer = one('m');
    if (maintainer !== undefined) pkg.maintainer = maintainer;
    const buildTime = int('t');
    if (buildTime !== undefined) pkg.buildTime = buildTime;
    const commit = one('c');
    if (commit !== undefined) pkg.commit = commit;
    const priority = int('k');
    if (priority !== undefined) pkg.providerPriority = priority;
    this.packages.push(pkg);
  }
}

export interface ReadIndexOptions {
  /** Names the index in errors and warnings (its URL or path). */
  what: string;
  /** Recorded as PackageInfo.repository. */
  repository: string;
  keys: ReadonlyMap<string, KeyObject>;
  /** Accept unsigned or untrusted indexes (with a warning); altered ones are still refused. */
  allowUntrusted?: boolean;
  onWarning?: (message: string) => void;
}

export interface ApkIndex {
  description: string;
  packages: PackageInfo[];
  /** The trusted key that verified it; absent when accepted untrusted. */
  signedBy?: string;
}

/** Read and verify an APKINDEX.tar.gz stream. Throws SignatureError ('ESIGNATURE') or IndexError. */
export async function readApkIndex(source: AsyncIterable<Uint8Array>, options: ReadIndexOptions): Promise<ApkIndex> {
  const { what } = options;
  const parser = new ApkIndexParser(what, options.repository);
  let description = '';
  let signatures: SignatureFile[] = [];
  let verifier: SignedStreamVerifier | undefined;
  // Member 0 is the signature tar when its first entry is .SIGN.*; an
  // unsigned index has the data tar there.
  let signatureTar: Buffer[] = [];
  let signatureBytes = 0;
  let dataMember = -1;
  let sawApkindex = false;

  const extract = tar.extract();
  const extracted = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.\//, '');
      const chunks: Buffer[] = [];
      stream.on('data', (data: unknown) => {
        const c = data as Buffer;
        if (name === 'APKINDEX') parser.write(c);
        else if (name === 'DESCRIPTION') chunks.push(c);
      });
      stream.on('end', () => {
        if (name === 'APKINDEX') sawApkindex = true;
        if (name === 'DESCRIPTION') description = Buffer.concat(chunks).toString('utf8').trim();
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extracted.catch(() => undefined);
  const feedTar = (chunk: Buffer): Promise<void> | void => {
    if (!extract.write(chunk)) return new Promise((resolve) => extract.once('drain', () => resolve()));
  };

  const startData = (index: number): void => {
    dataMember = index;
    verifier = new SignedStreamVerifier(what, signatures, options.keys);
  };

  await splitGzipMembers(
    source,
    {
      raw(index, chunk) {
        if (index === 1 && dataMember === 1) verifier?.update(chunk);
      },
      async data(index, chunk) {
        if (index === 0 && dataMember < 0) {
          signatureTar.push(chunk);
          signatureBytes += chunk.length;
          if (signatureBytes > SIGNATURE_LIMIT) throw new IndexError(`${what}: first gzip member is larger than a signature and is not an index`);
          const head = Buffer.concat(signatureTar);
          if (head.length < 512) return;
          if (head.subarray(0, 6).toString('latin1') === '.SIGN.') return;
          // Unsigned: member 0 is the data tar itself.
          signatureTar = [];
          startData(0);
          return feedTar(head);
        }
        if (index !== dataMember) throw new IndexError(`${what}: unexpected extra gzip member ${index + 1}; not an APKINDEX.tar.gz`);
        return feedTar(chunk);
      },
      end(index) {
        if (index === 0 && dataMember < 0) {
          const tarBytes = Buffer.concat(signatureTar);
          signatureTar = [];
          if (tarBytes.subarray(0, 6).toString('latin1') === '.SIGN.') {
            signatures = readSignatureTar(tarBytes);
            startData(1);
          } else {
            startData(0);
            return feedTar(tarBytes);
          }
        }
        return undefined;
      },
    },
    what,
  );
  extract.end(() => undefined);
  await extracted;
  if (dataMember < 0) throw new IndexError(`${what}: only a signature, no index data`);
  if (!sawApkindex) throw new IndexError(`${what}: no APKINDEX file inside`);
  const packages = parser.end();

  // Unsigned member 0 means data hashed nothing; the verifier reports it as unsigned.
  try {
    const { keyName } = (dataMember === 0 ? new SignedStreamVerifier(what, [], options.keys) : verifier!).verify();
    return { description, packages, signedBy: keyName };
  } catch (e) {
    const reason = (e as { reason?: string }).reason;
    if (options.allowUntrusted && (reason === 'unsigned' || reason === 'untrusted')) {
      options.onWarning?.(`WARNING: using ${what} although ${(e as Error).message.replace(`${what}: `, '')} (allowUntrusted is set)`);
      return { description, packages };
    }
    throw e;
  }
}
