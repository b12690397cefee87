/**
 * schemas/eib.schema.json, the one description of the file format, and its
 * validator. Editors read the same file (yaml-language-server), so it keeps
 * to draft-07 and to their annotation `patternErrorMessage`.
 *
 * Compiling the schema with ajv costs about a tenth of a second, more than
 * the rest of a no-op build's configuration step, so `npm run build` also
 * writes the validator as code (scripts/schema-validator.js) and a valid file
 * is checked with that; ajv itself is loaded only to explain an invalid file,
 * or when the precompiled validator is missing or was made from another
 * version of the schema.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Ajv, Options, ValidateFunction } from 'ajv';

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

/** The precompiled validator's file, beside this module in dist/ (written by scripts/schema-validator.js). */
export const PRECOMPILED_VALIDATOR_PATH = fileURLToPath(new URL('./schema-validator.cjs', import.meta.url));

/** What the precompiled validator's module exports. */
interface PrecompiledValidator {
  default: (data: unknown) => boolean;
  /** sha256 of the schema text it was compiled from. */
  schemaSha256: string;
}

/** This module's require (ESM has none): ajv and, unbundled, the precompiled validator. */
const requireHere = createRequire(import.meta.url);
let schemaText: string | undefined;
let loaded: SchemaNode | undefined;
let validator: ValidateFunction | undefined;
let quickCheck: ((data: unknown) => boolean) | undefined;

function readSchemaText(): string {
  schemaText ??= readFileSync(SCHEMA_PATH, 'utf8');
  return schemaText;
}

export function eibSchema(): SchemaNode {
  loaded ??= JSON.parse(readSchemaText()) as SchemaNode;
  return loaded;
}

/** sha256 (hex) of the schema file's text: what ties a precompiled validator to it. */
export function schemaSha256(): string {
  return createHash('sha256').update(readSchemaText()).digest('hex');
}

/** A new ajv instance that knows eib's schema annotations; the one set-up for run time and build time. */
export function schemaAjv(options: Options = {}): Ajv {
  const { Ajv: AjvClass } = requireHere('ajv') as typeof import('ajv');
  const ajv = new AjvClass({ strict: true, ...options });
  ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
  return ajv;
}

/** Whether `data` satisfies the schema, by the precompiled validator when it is current, else by ajv. */
export function schemaValid(data: unknown): boolean {
  if (quickCheck === undefined) {
    let precompiled: PrecompiledValidator | undefined;
    try {
      // In the CLI's CommonJS bundle a literal require() is bundled, so the validator comes with the bundle's code cache.
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- esbuild bundles only a literal require()
      precompiled = (typeof require === 'function' ? require('./schema-validator.cjs') : requireHere(PRECOMPILED_VALIDATOR_PATH)) as PrecompiledValidator;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    }
    quickCheck = precompiled !== undefined && precompiled.schemaSha256 === schemaSha256() ? precompiled.default : schemaValidator();
  }
  return quickCheck(data);
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
    validator = schemaAjv({ allErrors: true, verbose: true }).compile(eibSchema());
  }
  return validator;
}
