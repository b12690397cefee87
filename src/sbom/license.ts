/**
 * apk's free-text `L:` field → an SPDX license expression (spec 2.3 Annex D).
 * Alpine mostly writes valid expressions, but not always: lower-case
 * operators, wrong case in identifiers ("ZLib"), names that are not on the
 * SPDX License List ("custom", "Public-Domain"), or words with no operator
 * between them ("GPL custom:OFL"). Operators and listed identifiers are
 * normalized; listed identifiers separated by spaces only (the older APKBUILD
 * style) are joined with AND; an unlisted identifier becomes a LicenseRef-
 * of its own; other text that does not parse as an expression becomes one
 * LicenseRef- as a whole.
 */
import { createHash } from 'node:crypto';
import { SPDX_EXCEPTION_IDS, SPDX_LICENSE_IDS } from './license-ids.js';
import { NOASSERTION } from './types.js';

export interface LicenseRef {
  /** "LicenseRef-apk-…": the same text always gives the same id. */
  id: string;
  /** The text apk declared that the id stands for. */
  text: string;
}

export interface SpdxLicense {
  expression: string;
  /** The LicenseRef- ids `expression` uses, with their declared text. */
  refs: LicenseRef[];
}

const byLowerCase = (ids: readonly string[]): Map<string, string> => new Map(ids.map((id) => [id.toLowerCase(), id]));
const LICENSES = byLowerCase(SPDX_LICENSE_IDS);
const EXCEPTIONS = byLowerCase(SPDX_EXCEPTION_IDS);
const ID_STRING = /^[A-Za-z0-9.-]+$/;

type Node = { kind: 'license'; id: string; plus: boolean; exception?: string } | { kind: 'and' | 'or'; left: Node; right: Node };

class NotAnExpression extends Error {}

/** Tokens: "(", ")", and words (operators, identifiers). */
function tokenize(text: string): string[] {
  return text.match(/[()]|[^\s()]+/g) ?? [];
}

/** Recursive descent with SPDX precedence: WITH binds tighter than AND, AND tighter than OR. */
class Parser {
  private at = 0;
  constructor(private readonly tokens: string[]) {}

  parse(): Node {
    const node = this.or();
    if (this.at !== this.tokens.length) throw new NotAnExpression();
    return node;
  }

  private peekOperator(): string | undefined {
    return this.tokens[this.at]?.toUpperCase();
  }

  private or(): Node {
    let left = this.and();
    while (this.peekOperator() === 'OR') {
      this.at++;
      left = { kind: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): Node {
    let left = this.primary();
    while (this.peekOperator() === 'AND') {
      this.at++;
      left = { kind: 'and', left, right: this.primary() };
    }
    return left;
  }

  private primary(): Node {
    const token = this.tokens[this.at++];
    if (token === undefined || token === ')' || ['AND', 'OR', 'WITH'].includes(token.toUpperCase())) throw new NotAnExpression();
    if (token === '(') {
      const inner = this.or();
      if (this.tokens[this.at++] !== ')') throw new NotAnExpression();
      return inner;
    }
    const plus = token.length > 1 && token.endsWith('+');
    const node: Node = { kind: 'license', id: plus ? token.slice(0, -1) : token, plus };
    if (this.peekOperator() === 'WITH') {
      this.at++;
      const exception = this.tokens[this.at++];
      const listed = exception === undefined ? undefined : EXCEPTIONS.get(exception.toLowerCase());
      // Exceptions cannot be LicenseRefs in SPDX 2.3: an unlisted one makes the whole text unparseable.
      if (listed === undefined) throw new NotAnExpression();
      node.exception = listed;
    }
    return node;
  }
}

/** A LicenseRef- id for declared text: readable when the text is a valid idstring, else sanitized plus a hash. */
export function licenseRefId(text: string): string {
  if (ID_STRING.test(text)) return `LicenseRef-apk-${text}`;
  const readable = text.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '');
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 8);
  return `LicenseRef-apk-${readable === '' ? '' : `${readable}-`}${hash}`;
}

function render(node: Node, refs: Map<string, LicenseRef>, parent?: 'and' | 'or'): string {
  if (node.kind === 'license') {
    const listed = LICENSES.get(node.id.toLowerCase());
    let id: string;
    if (listed !== undefined && !/^licenseref-/i.test(node.id)) {
      id = `${listed}${node.plus ? '+' : ''}`;
    } else {
      const text = `${node.id}${node.plus ? '+' : ''}`;
      const ref = { id: licenseRefId(text), text };
      refs.set(ref.id, ref);
      id = ref.id;
    }
    return node.exception === undefined ? id : `${id} WITH ${node.exception}`;
  }
  const text = `${render(node.left, refs, node.kind)} ${node.kind.toUpperCase()} ${render(node.right, refs, node.kind)}`;
  return parent !== undefined && parent !== node.kind ? `(${text})` : text;
}

/** The SPDX expression for an apk `L:` value; NOASSERTION when it is empty. */
export function spdxLicense(declared: string): SpdxLicense {
  const text = declared.trim();
  if (text === '') return { expression: NOASSERTION, refs: [] };
  if (text === 'NONE' || text === NOASSERTION) return { expression: text, refs: [] };
  const refs = new Map<string, LicenseRef>();
  // Older APKBUILDs list licenses separated by spaces, meaning all of them apply.
  const words = text.split(/\s+/);
  if (words.length > 1 && words.every((w) => LICENSES.has(w.toLowerCase()))) {
    return { expression: words.map((w) => LICENSES.get(w.toLowerCase())!).join(' AND '), refs: [] };
  }
  try {
    const expression = render(new Parser(tokenize(text)).parse(), refs);
    return { expression, refs: [...refs.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
  } catch (e) {
    if (!(e instanceof NotAnExpression)) throw e;
    const ref = { id: licenseRefId(text), text };
    return { expression: ref.id, refs: [ref] };
  }
}
