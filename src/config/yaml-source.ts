/**
 * A YAML document kept with its source positions, so every problem found in
 * the parsed data can be reported at the line and column it came from.
 */
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, visit, type Document, type Node, type Pair } from 'yaml';

/** A location in the parsed data: mapping keys and list indexes from the top. */
export type DataPath = readonly (string | number)[];

/** A problem found in the file, located by data path or by offset. */
export interface Problem {
  /** Where in the data; ignored when `offset` is set. */
  readonly path: DataPath;
  /** Point at the key of the last path element (unknown keys) or at its value. */
  readonly at: 'key' | 'value';
  readonly message: string;
  /** Source offset, for problems of the YAML text itself. */
  readonly offset?: number;
}

export interface Position {
  readonly line: number;
  readonly column: number;
}

export class YamlSource {
  private readonly lines = new LineCounter();
  private readonly doc: Document.Parsed;

  constructor(text: string) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true, merge: true });
  }

  /** True when the document holds nothing but comments or whitespace. */
  get empty(): boolean {
    return this.doc.contents === null || (isScalar(this.doc.contents) && this.doc.contents.value === null && this.doc.errors.length === 0);
  }

  /** YAML syntax errors, aliases to undefined anchors, keys that are not plain values, and alias bombs. */
  syntaxProblems(): Problem[] {
    const problems: Problem[] = this.doc.errors.map((e) => ({
      path: [],
      at: 'value',
      offset: e.pos[0],
      message:
        e.code === 'MULTIPLE_DOCS'
          ? 'invalid YAML: a second document starts here; expected one document (remove the ---)'
          : `invalid YAML: ${lowerFirst(e.message)}; fix the syntax here`,
    }));
    visit(this.doc, {
      Alias: (_key, node) => {
        if (node.resolve(this.doc) === undefined) {
          problems.push({
            path: [],
            at: 'value',
            offset: node.range?.[0] ?? 0,
            message: `invalid YAML: alias *${node.source} has no anchor &${node.source} before it; define the anchor first`,
          });
        }
      },
      Pair: (_key, pair) => {
        // A mapping or list as a key would be stringified by toJS (with a process warning).
        if (pair.key !== null && !isScalar(pair.key) && !isAlias(pair.key)) {
          problems.push({
            path: [],
            at: 'value',
            offset: (pair.key as Node).range?.[0] ?? 0,
            message: 'invalid YAML: a key must be a plain value, not a mapping or a list; write the key as text',
          });
        }
      },
    });
    if (problems.length === 0) {
      try {
        this.doc.toJS();
      } catch (e) {
        // The yaml library refuses documents whose aliases expand exponentially ("billion laughs").
        const first = visitFirstAlias(this.doc);
        problems.push({
          path: [],
          at: 'value',
          offset: first,
          message: `invalid YAML: ${lowerFirst((e as Error).message)}; use fewer aliases`,
        });
      }
    }
    return problems;
  }

  /** The document as plain data (call only when there are no syntax problems). */
  data(): unknown {
    return this.doc.toJS();
  }

  /** Where a problem is in the text; the closest existing node when the path goes further. */
  position(problem: Problem): Position {
    if (problem.offset !== undefined) return this.linePos(problem.offset);
    let node: unknown = this.doc.contents;
    let pair: Pair | undefined;
    let found = 0;
    for (const step of problem.path) {
      const next = this.child(node, step);
      if (next === undefined) break;
      ({ node, pair } = next);
      found++;
    }
    const complete = found === problem.path.length;
    if (problem.at === 'key' && complete && pair) return this.nodeStart(pair.key);
    if (complete && isScalar(node) && node.value === null && pair && node.range && node.range[0] === node.range[1]) {
      // An empty value has no text of its own: point at its key.
      return this.nodeStart(pair.key);
    }
    return this.nodeStart(node);
  }

  private child(node: unknown, step: string | number): { node: unknown; pair?: Pair } | undefined {
    const target = isAlias(node) ? node.resolve(this.doc) : node;
    if (isMap(target)) {
      const pair = target.items.find((p) => isPair(p) && this.pairKey(p) === step);
      if (!pair) return undefined;
      const value = isAlias(pair.value) ? pair.value.resolve(this.doc) : pair.value;
      return { node: value ?? pair.key, pair };
    }
    if (isSeq(target) && typeof step === 'number') {
      const item = target.items[step];
      if (item === undefined) return undefined;
      return { node: isAlias(item) ? item.resolve(this.doc) : item };
    }
    return undefined;
  }

  private pairKey(pair: Pair): unknown {
    return isScalar(pair.key) ? pair.key.value : pair.key;
  }

  private nodeStart(node: unknown): Position {
    const range = (node as Node | null)?.range;
    return this.linePos(range ? range[0] : 0);
  }

  private linePos(offset: number): Position {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}

function visitFirstAlias(doc: Document.Parsed): number {
  let offset = 0;
  visit(doc, {
    Alias: (_key, node) => {
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}
