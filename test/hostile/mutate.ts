/**
 * Seeded mutations of a valid eib.yaml: the kinds of damage an editor, a
 * merge, a copy-paste or a disk can do. Deterministic per seed, so a
 * failing case is reproduced by its number.
 */

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(r: Random, items: readonly T[]): T => items[Math.floor(r() * items.length)]!;
const int = (r: Random, n: number): number => Math.floor(r() * n);

/** Values of every YAML type, and some that only look like one. */
const VALUES = ['123', '-1', '1e309', 'true', 'null', '~', '[]', '{}', '""', "'x'", '[1, [2, {3: 4}]]', '{a: b}', '0x1F', '.inf', '.nan', '!!binary aGk=', '!!str', '2024-01-01', '&anchor x', '*undefined_alias', '|', '>-', '? key', '- item', '"\\u0000"', '@at', '`tick`', '%TAG'];

/** Characters that break naive handling: controls, bidi overrides, zero-width, BOM, noncharacters, lone surrogates, combining marks, emoji. */
const UNICODE = ['\u0000', '\u0007', '\u001b[31m', '\u202e', '\u200b', '\ufeff', '\ufffe', '\ud800', '\udfff', 'e\u0301', '😀', 'Ω', '\u2028', '\u0085', '\r', '\t', 'İ', 'ﬃ'];

export interface Mutation {
  kind: string;
  text: string;
}

const lines = (text: string): string[] => text.split('\n');

const MUTATORS: Record<string, (r: Random, text: string) => string> = {
  'delete a line': (r, t) => {
    const l = lines(t);
    l.splice(int(r, l.length), 1);
    return l.join('\n');
  },
  'duplicate a line': (r, t) => {
    const l = lines(t);
    const i = int(r, l.length);
    l.splice(i, 0, l[i]!);
    return l.join('\n');
  },
  'retype a value': (r, t) => {
    const l = lines(t);
    const candidates = l.map((line, i) => [line, i] as const).filter(([line]) => /:\s*\S|^\s*-\s+\S/.test(line));
    if (candidates.length === 0) return t;
    const [line, i] = pick(r, candidates);
    const m = /^(\s*(?:-\s+)?[^:#]*:\s*|\s*-\s+)(.*)$/.exec(line);
    l[i] = `${m ? m[1] : ''}${pick(r, VALUES)}`;
    return l.join('\n');
  },
  'rename a key': (r, t) => {
    const l = lines(t);
    const keyed = l.map((line, i) => [line, i] as const).filter(([line]) => /^\s*(?:-\s+)?[a-z-]+:/.test(line));
    if (keyed.length === 0) return t;
    const [line, i] = pick(r, keyed);
    l[i] = line.replace(/([a-z-]+):/, (_m, k: string) => `${pick(r, [k.toUpperCase(), `${k}s`, k.slice(1), `${k}_`, k.replace('-', '_'), 'stages', 'name'])}:`);
    return l.join('\n');
  },
  'inject unicode': (r, t) => {
    const at = int(r, t.length + 1);
    return t.slice(0, at) + pick(r, UNICODE) + t.slice(at);
  },
  truncate: (r, t) => t.slice(0, int(r, t.length)),
  'change indentation': (r, t) => {
    const l = lines(t);
    const i = int(r, l.length);
    const change = pick(r, ['indent', 'dedent', 'tab', 'odd']);
    l[i] = change === 'indent' ? `  ${l[i]}` : change === 'dedent' ? l[i]!.replace(/^ {1,2}/, '') : change === 'tab' ? `\t${l[i]!.trimStart()}` : ` ${l[i]}`;
    return l.join('\n');
  },
  'swap two lines': (r, t) => {
    const l = lines(t);
    const a = int(r, l.length);
    const b = int(r, l.length);
    [l[a], l[b]] = [l[b]!, l[a]!];
    return l.join('\n');
  },
  'random bytes': (r, t) => {
    const bytes = Buffer.from(t, 'utf8');
    const n = 1 + int(r, 4);
    for (let k = 0; k < n && bytes.length > 0; k++) bytes[int(r, bytes.length)] = int(r, 256);
    // Read back as eib reads it (utf8; invalid sequences become U+FFFD).
    return bytes.toString('utf8');
  },
  'structural noise': (r, t) => {
    const at = int(r, t.length + 1);
    return t.slice(0, at) + pick(r, ['{', '}', '[', ']', ':', ': ', '- ', '#', '"', "'", '&a', '*a', '!', '|', '---\n', '...\n', '? ']) + t.slice(at);
  },
};

export const MUTATION_KINDS = Object.keys(MUTATORS);

/** One to three mutations of `text`, chosen by `seed`. */
export function mutate(text: string, seed: number): Mutation {
  const r = prng(seed);
  const n = 1 + int(r, 3);
  const kinds: string[] = [];
  let out = text;
  for (let k = 0; k < n; k++) {
    const kind = pick(r, MUTATION_KINDS);
    kinds.push(kind);
    out = MUTATORS[kind]!(r, out);
  }
  return { kind: kinds.join(' + '), text: out };
}

/** Hand-made hostile YAML that random mutation rarely finds. */
export const SPECIAL_CASES: { name: string; text: (valid: string) => string }[] = [
  {
    name: 'billion laughs (alias expansion)',
    text: () => {
      const rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 10; i++) rows.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
      return `${rows.join('\n')}\nname: *j\n`;
    },
  },
  { name: 'deeply nested flow sequences', text: () => `name: ${'['.repeat(20000)}${']'.repeat(20000)}\n` },
  { name: 'deeply nested block mappings', text: () => Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' x\n' },
  { name: 'a 1 MiB scalar', text: (v) => v.replace(/^name: .*$/m, `name: ${'x'.repeat(1 << 20)}`) },
  { name: 'a merge key into the root', text: (v) => `base: &b {name: x}\n<<: *b\n${v}` },
  { name: 'a self-referencing alias', text: (v) => `${v}\nloop: &l [*l]\n` },
  { name: 'two documents', text: (v) => `${v}\n---\n${v}` },
  { name: 'a NUL byte file', text: () => '\u0000'.repeat(64) },
  { name: 'a UTF-16 byte order mark and text', text: (v) => Buffer.from(`\ufeff${v}`, 'utf16le').toString('utf8') },
  { name: 'a key that is a mapping', text: (v) => `? {a: b}\n: c\n${v}` },
  { name: '__proto__ and constructor keys', text: (v) => `${v}\n__proto__: {polluted: true}\nconstructor: {prototype: {polluted: true}}\n` },
  { name: 'stages as __proto__ entries', text: (v) => v.replace(/^stages:\n/m, 'stages:\n  - __proto__: {name: x}\n') },
  { name: 'a tag of an unknown type', text: (v) => v.replace(/^name: /m, 'name: !!python/object:os.system ') },
  { name: 'a number too big for a double', text: (v) => v.replace(/^name: .*$/m, `name: ${'9'.repeat(400)}`) },
  { name: 'CRLF line endings with a lone CR', text: (v) => v.replaceAll('\n', '\r\n').replace('\r\n', '\r') },
];
