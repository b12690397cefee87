/**
 * Schema validation errors turned into problems a user can act on: located
 * at the offending key or value, saying what is wrong and what is expected.
 */
import type { ErrorObject } from 'ajv';
import { deref, eibSchema, schemaValid, schemaValidator, type SchemaNode } from './schema.js';
import { closest } from './suggest.js';
import type { DataPath, Problem } from './yaml-source.js';

/** Names other tools use for Alpine arches. */
const ARCH_ALIASES: Readonly<Record<string, string>> = {
  arm64: 'aarch64',
  aarch64_be: 'aarch64',
  amd64: 'x86_64',
  x64: 'x86_64',
  'x86-64': 'x86_64',
  i386: 'x86',
  i486: 'x86',
  i586: 'x86',
  i686: 'x86',
  arm: 'armv7',
  armel: 'armhf',
  armv6: 'armhf',
  riscv: 'riscv64',
  ppc64el: 'ppc64le',
  loong64: 'loongarch64',
};

/** `stages[0].files[1].dest`, or "the file" for the top level. */
export function displayPath(path: DataPath): string {
  if (path.length === 0) return 'the file';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function inWhere(path: DataPath): string {
  return path.length === 0 ? 'at the top level' : `in ${displayPath(path)}`;
}

type Kind = 'null' | 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object';

function kindOf(value: unknown): Kind {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  return 'object';
}

function typeMatches(schemaType: string, value: unknown): boolean {
  const kind = kindOf(value);
  return schemaType === kind || (schemaType === 'number' && kind === 'integer');
}

const KIND_PHRASE: Readonly<Record<string, string>> = {
  string: 'a string',
  boolean: 'true or false',
  integer: 'a whole number',
  number: 'a number',
  array: 'a list',
  object: 'a mapping (key: value lines)',
  null: 'nothing',
};

/** How a value the user wrote is named in messages. */
export function describeValue(value: unknown): string {
  const kind = kindOf(value);
  if (kind === 'null') return 'an empty value';
  if (kind === 'string') {
    const s = value as string;
    return s === '' ? 'an empty string' : `the string ${JSON.stringify(s.length > 40 ? `${s.slice(0, 37)}...` : s)}`;
  }
  if (kind === 'integer' || kind === 'number') return `the number ${String(value)}`;
  if (kind === 'boolean') return `the boolean ${String(value)}`;
  return kind === 'array' ? 'a list' : 'a mapping';
}

function schemaTypes(node: SchemaNode): string[] {
  const t = deref(node).type;
  return t === undefined ? [] : typeof t === 'string' ? [t] : [...t];
}

/** "a string or a list of strings", "one of: a, b, or a list of them" for an anyOf of branches. */
function expectedOfBranches(branches: readonly SchemaNode[]): string {
  const phrases = branches.map((b) => {
    const node = deref(b);
    if (node.enum) return `one of: ${node.enum.map(String).join(', ')}`;
    const types = schemaTypes(node);
    if (types.includes('array') && node.items) {
      const items = deref(node.items);
      if (items.enum) return 'a list of them';
      const itemTypes = schemaTypes(items);
      return itemTypes.length === 1 ? `a list of ${itemTypes[0]}s` : 'a list';
    }
    return types.map((t) => KIND_PHRASE[t] ?? t).join(' or ');
  });
  return phrases.join(phrases.some((p) => p.includes(',')) ? ', or ' : ' or ');
}

/** The data at an instance path, and the path with list indexes as numbers. */
function locate(data: unknown, instancePath: string): { path: (string | number)[]; value: unknown } {
  const path: (string | number)[] = [];
  let value = data;
  if (instancePath === '') return { path, value };
  for (const raw of instancePath.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(value)) {
      const index = Number(token);
      path.push(index);
      value = value[index];
    } else {
      path.push(token);
      value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[token] : undefined;
    }
  }
  return { path, value };
}

function firstClause(description: string | undefined): string {
  if (description === undefined) return '';
  const clause = description.split(/[.:;](\s|$)/)[0] ?? description;
  return ` (${clause.charAt(0).toLowerCase()}${clause.slice(1)})`;
}

/** Drop the errors of anyOf branches that do not fit the value's type; one message when none fits. */
function resolveAnyOf(errors: readonly ErrorObject[], data: unknown): { kept: ErrorObject[]; problems: Problem[] } {
  const problems: Problem[] = [];
  let kept = [...errors];
  for (const anyOf of errors.filter((e) => e.keyword === 'anyOf')) {
    const branches = (anyOf.schema as readonly SchemaNode[]).map(deref);
    const { path, value } = locate(data, anyOf.instancePath);
    const fitting = branches.find((b) => schemaTypes(b).some((t) => typeMatches(t, value)));
    const at = anyOf.instancePath;
    kept = kept.filter((e) => e !== anyOf);
    if (fitting) {
      kept = kept.filter((e) => e.instancePath !== at || e.parentSchema === fitting);
    } else {
      kept = kept.filter((e) => e.instancePath !== at && !e.instancePath.startsWith(`${at}/`));
      const expected = expectedOfBranches(anyOf.schema as readonly SchemaNode[]);
      problems.push({ path, at: 'value', message: `${displayPath(path)}: got ${describeValue(value)}; expected ${expected}` });
    }
  }
  return { kept, problems };
}

function problemOf(e: ErrorObject, data: unknown): Problem | undefined {
  const { path, value } = locate(data, e.instancePath);
  const where = displayPath(path);
  const parent = (e.parentSchema ?? {}) as SchemaNode;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      const allowed = Object.keys(parent.properties ?? {});
      const guess = closest(key, allowed);
      const expected = guess !== undefined ? `did you mean "${guess}"?` : `expected one of: ${allowed.join(', ')}`;
      return { path: [...path, key], at: 'key', message: `unknown key "${key}" ${inWhere(path)}; ${expected}` };
    }
    case 'required': {
      const key = String(params['missingProperty']);
      const property = parent.properties?.[key];
      const summary = firstClause(property === undefined ? undefined : (property.description ?? deref(property).description));
      return { path, at: 'value', message: `${where} has no "${key}"; expected a key "${key}"${summary}` };
    }
    case 'type': {
      const expected = parent.patternErrorMessage ?? `expected ${schemaTypes(parent).map((t) => KIND_PHRASE[t] ?? t).join(' or ')}`;
      return { path, at: 'value', message: `${where}: got ${describeValue(value)}; ${expected}` };
    }
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map(String);
      const isArch = parent === eibSchema().definitions?.['arch'];
      const guess = typeof value === 'string' ? closest(value, allowed, isArch ? ARCH_ALIASES : {}) : undefined;
      const what = isArch ? `unknown Alpine arch ${JSON.stringify(value)}` : `${JSON.stringify(value)} is not allowed`;
      const hint = guess !== undefined ? ` (did you mean "${guess}"?)` : '';
      return { path, at: 'value', message: `${where}: ${what}${hint}; expected one of: ${allowed.join(', ')}` };
    }
    case 'pattern': {
      if (e.propertyName !== undefined) return undefined; // reported by its propertyNames error
      const expected = parent.patternErrorMessage ?? `expected text matching ${String(params['pattern'])}`;
      return { path, at: 'value', message: `${where}: ${JSON.stringify(value)} is not valid; ${expected}` };
    }
    case 'propertyNames': {
      const name = String(params['propertyName']);
      const expected = parent.propertyNames?.patternErrorMessage ?? 'expected a valid name';
      return { path: [...path, name], at: 'key', message: `${where}: invalid name ${JSON.stringify(name)}; ${expected}` };
    }
    case 'minLength':
      return { path, at: 'value', message: `${where}: got an empty string; expected a non-empty string` };
    case 'minItems':
      return { path, at: 'value', message: `${where}: got an empty list; expected at least ${String(params['limit'])} entry` };
    case 'uniqueItems': {
      const later = Math.max(Number(params['i']), Number(params['j']));
      const earlier = Math.min(Number(params['i']), Number(params['j']));
      const item = Array.isArray(value) ? value[later] : undefined;
      const first = displayPath([...path, earlier]);
      return { path: [...path, later], at: 'value', message: `${displayPath([...path, later])}: ${JSON.stringify(item)} is listed twice (also ${first}); expected each entry once` };
    }
    case 'minimum':
      return { path, at: 'value', message: `${where}: got ${describeValue(value)}; expected a whole number ≥ ${String(params['limit'])}` };
    default:
      return { path, at: 'value', message: `${where}: ${e.message ?? 'is not valid'}` };
  }
}

/** Every schema violation of the data, as problems. */
export function schemaProblems(data: unknown): Problem[] {
  if (schemaValid(data)) return [];
  const validate = schemaValidator();
  if (validate(data)) return [];
  const { kept, problems } = resolveAnyOf(validate.errors ?? [], data);
  for (const e of kept) {
    const p = problemOf(e, data);
    if (p) problems.push(p);
  }
  return problems;
}
