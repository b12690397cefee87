/**
 * apk v2 package metadata as APKINDEX and .PKGINFO carry it.
 * Reference: apk-tools doc/apk-v2.5.scd (single-letter index fields) and
 * src/package.c.
 */

/** One package as an APKINDEX entry describes it. */
export interface PackageInfo {
  /** P: */
  name: string;
  /** V: */
  version: string;
  /** A: */
  arch: string;
  /** S: size of the .apk file */
  size: number;
  /** I: installed size */
  installedSize: number;
  /** T: */
  description: string;
  /** U: */
  url: string;
  /** L: */
  license: string;
  /** o: */
  origin?: string;
  /** m: */
  maintainer?: string;
  /** t: build time, seconds */
  buildTime?: number;
  /** c: source commit */
  commit?: string;
  /** k: provider priority */
  providerPriority?: number;
  /** D: dependencies as written ("so:libc.musl-x86_64.so.1", "!foo", "bar>=1") */
  depends: string[];
  /** p: provides ("cmd:sh=1.36.1-r29", "so:libz.so.1=1.3.1") */
  provides: string[];
  /** i: install_if */
  installIf: string[];
  /** r: replaces */
  replaces: string[];
  /**
   * C: the control-stream checksum exactly as written in the index:
   * "Q1" + base64(sha1) (or "Q2" + base64(sha256)).
   */
  checksum: string;
  /** The repository this entry came from (URL or absolute path). */
  repository: string;
}

/** A dependency as parsed from "name", "!name", "name>=1.2", "name~1.2", "name><1.2". */
export interface Dependency {
  name: string;
  /** "!name": a conflict. */
  conflict: boolean;
  /** Absent for "any version". */
  op?: '=' | '<' | '<=' | '>' | '>=' | '~' | '><';
  version?: string;
  /** "name@tag": only packages from repositories with this tag (world entries only). */
  tag?: string;
}
