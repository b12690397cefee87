/**
 * schemas/eib.schema.json, the one description of the file format, and its
 * validator. Editors read the same file (yaml-language-server), so it keeps
 * to draft-07 and to their annotation `patternErrorMessage`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';

/** Absolute path of the schema, shipped in the package beside dist/ (found from dist/src/config, or src/config when run from source). */
export const SCHEMA_PATH = ['../../../schemas/eib.schema.json', '../../schemas/eib.schema.json']
  .map((relative) => fileURLToPath(new URL(relative, import.meta.url)))
  .find((path) => existsSync(path)) ?? fileURLToPath(new URL('../../../schemas/eib.schema.json', import.meta.url));

/** A JSON Schema node, as much of it as eib reads. */
export interface SchemaNode {
  readonly $ref?: string;
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly items?: SchemaNode;
  readonly anyOf?: readonly SchemaNode[];
  readonly additionalProperties?: boolean | SchemaNode;
  readonly propertyNames?: SchemaNode;
  readonly enum?: readonly unknown[];
  readonly pattern?: string;
  readonly patternErrorMessage?: string;
  readonly definitions?: Readonly<Record<string, SchemaNode>>;
  readonly default?: unknown;
}

let loaded: SchemaNode | undefined;
let validator: ValidateFunction | undefined;

export function eibSchema(): SchemaNode {
  loaded ??= JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as SchemaNode;
  return loaded;
}

/** The node a `$ref` (only local "#/definitions/…" ones are used) points to, or the node itself. */
export function deref(node: SchemaNode): SchemaNode {
  if (node.$ref === undefined) return node;
  const name = /^#\/definitions\/(.+)$/.exec(node.$ref)?.[1];
  const target = name === undefined ? undefined : eibSchema().definitions?.[name];
  if (target === undefined) throw new Error(`schema: unresolvable $ref ${node.$ref}`);
  return target;
}

/** The compiled validator: every error (not just the first), with the schema node that failed. */
export function schemaValidator(): ValidateFunction {
  if (validator === undefined) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
    ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
    validator = ajv.compile(eibSchema());
  }
  return validator;
}
