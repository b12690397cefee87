/**
 * apk version strings: digits{.digits}…{letter}{_suffix{digits}}…{-rN},
 * ordered exactly as apk-tools 2.14 orders them, because the solver must pick
 * the same "latest" package apk would.
 *
 * A tokenizer walks both strings in step; the first token whose value
 * differs decides. Rules worth knowing (each is checked against the real apk
 * by test/apk/version.test.ts):
 * - _alpha < _beta < _pre < _rc < (nothing) < _cvs < _svn < _git < _hg < _p;
 * - a component after '.' that starts with zeros compares by its count of
 *   zeros first (more zeros = smaller): 1.05 < 1.1, 1.001 < 1.01;
 * - a number of 18 digits or more makes the version invalid;
 * - when one version runs out first it is the smaller, unless the other goes
 *   on with a pre-release suffix: 1.2_rc1 < 1.2 < 1.2-r1 < 1.2.1;
 * - an invalid version still compares (by its valid prefix, then with the
 *   invalid token ranking lowest), so every pair has an order.
 */

const enum Token {
  Invalid = -1,
  DigitOrZero = 0,
  Digit = 1,
  Letter = 2,
  Suffix = 3,
  SuffixNo = 4,
  RevisionNo = 5,
  End = 6,
}

const PRE_SUFFIXES = ['alpha', 'beta', 'pre', 'rc'] as const;
const POST_SUFFIXES = ['cvs', 'svn', 'git', 'hg', 'p'] as const;
/** apk refuses numbers this long (they would not fit its integers). */
const MAX_DIGITS = 18;

type Value = number | bigint;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;

/** A cursor over one version string: `type` is the kind of the next token. */
class Cursor {
  private pos = 0;
  type: Token = Token.Digit;

  constructor(private readonly s: string) {}

  private get rest(): number {
    return this.s.length - this.pos;
  }

  private at(i: number): number {
    return this.s.charCodeAt(this.pos + i);
  }

  /** Classify what follows a token (stepping over a separator) and check the order of kinds. */
  private advanceType(): void {
    let n: Token = Token.Invalid;
    const c = this.at(0);
    if (this.rest === 0) {
      n = Token.End;
    } else if ((this.type === Token.Digit || this.type === Token.DigitOrZero) && isLower(c)) {
      n = Token.Letter;
    } else if (this.type === Token.Letter && isDigit(c)) {
      n = Token.Digit;
    } else if (this.type === Token.Suffix && isDigit(c)) {
      n = Token.SuffixNo;
    } else {
      if (c === 0x2e /* . */) n = Token.DigitOrZero;
      else if (c === 0x5f /* _ */) n = Token.Suffix;
      else if (c === 0x2d /* - */ && this.rest > 1 && this.at(1) === 0x72 /* r */) {
        n = Token.RevisionNo;
        this.pos++;
      }
      this.pos++;
    }
    if (n < this.type) {
      const allowed =
        (n === Token.DigitOrZero && this.type === Token.Digit) ||
        (n === Token.Suffix && this.type === Token.SuffixNo) ||
        (n === Token.Digit && this.type === Token.Letter);
      if (!allowed) n = Token.Invalid;
    }
    this.type = n;
  }

  private invalid(): Value {
    this.type = Token.Invalid;
    return -1;
  }

  /** The value of the token at the cursor; moves to the next one. */
  take(): Value {
    if (this.rest <= 0) {
      this.type = Token.End;
      return 0;
    }
    let v: Value;
    let i = 0;
    let next: Token = Token.Invalid;
    const t = this.type;
    if (t === Token.DigitOrZero && this.at(0) === 0x30) {
      while (i < this.rest && this.at(i) === 0x30) i++;
      next = Token.Digit;
      v = -i;
    } else if (t === Token.DigitOrZero || t === Token.Digit || t === Token.SuffixNo || t === Token.RevisionNo) {
      while (i < this.rest && isDigit(this.at(i))) i++;
      if (i >= MAX_DIGITS) return this.invalid();
      const digits = this.s.slice(this.pos, this.pos + i);
      v = i === 0 ? 0 : i <= 15 ? Number(digits) : BigInt(digits);
    } else if (t === Token.Letter) {
      v = this.at(0);
      i = 1;
    } else if (t === Token.Suffix) {
      const rest = this.s.slice(this.pos);
      const pre = PRE_SUFFIXES.findIndex((p) => rest.startsWith(p));
      const post = POST_SUFFIXES.findIndex((p) => rest.startsWith(p));
      if (pre >= 0) {
        v = pre - PRE_SUFFIXES.length;
        i = PRE_SUFFIXES[pre]!.length;
      } else if (post >= 0) {
        v = post;
        i = POST_SUFFIXES[post]!.length;
      } else {
        return this.invalid();
      }
    } else {
      return this.invalid();
    }
    this.pos += i;
    if (this.rest === 0) this.type = Token.End;
    else if (next !== Token.Invalid) this.type = next;
    else this.advanceType();
    return v;
  }
}

/** True when apk accepts `version` as a package version. */
export function isValidVersion(version: string): boolean {
  const c = new Cursor(version);
  while (c.type !== Token.End && c.type !== Token.Invalid) c.take();
  return c.type === Token.End;
}

/**
 * Compare `a` with `b`. With `fuzzy` (the `~` operator) they are also equal
 * when they agree on every component both have: 1.2.3 ~ 1.2.
 */
export function compareVersionsFuzzy(a: string, b: string, fuzzy: boolean): -1 | 0 | 1 {
  const ca = new Cursor(a);
  const cb = new Cursor(b);
  let av: Value = 0;
  let bv: Value = 0;
  while (ca.type === cb.type && ca.type !== Token.End && ca.type !== Token.Invalid && !(av < bv || av > bv)) {
    av = ca.take();
    bv = cb.take();
  }
  if (av < bv) return -1;
  if (av > bv) return 1;
  if (ca.type === cb.type || fuzzy) return 0;
  // Equal so far: the one that goes on is greater, unless it goes on with a
  // pre-release suffix.
  const at = ca.type;
  const bt = cb.type;
  if (at === Token.Suffix && ca.take() < 0) return -1;
  if (bt === Token.Suffix && cb.take() < 0) return 1;
  if (at > bt) return -1;
  if (bt > at) return 1;
  return 0;
}

/** Order two apk versions: -1 when a < b, 0 when equal, 1 when a > b. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  return compareVersionsFuzzy(a, b, false);
}
