/**
 * schemas/eib.schema.json is the format's one source of truth: the
 * TypeScript key tables, the arch list, the README reference and editor
 * support must all agree with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import { join } from 'node:path';
import { ALPINE_ARCHES, FILE_KEYS, SCHEMA_PATH, eibSchema } from '../../src/config/index.js';
import { PRECOMPILED_VALIDATOR_PATH, deref, schemaSha256, schemaValidator, type SchemaNode } from '../../src/config/schema.js';
import { REPO_ROOT } from '../helpers/user.js';

interface Walked {
  /** Requiredness of each key, per mapping location ("" top level, "stages[]" …). */
  tables: Record<string, Record<string, 'required' | 'optional'>>;
  /** Every key path: "alpine.keys", "stages[].files[].src" … */
  keyPaths: string[];
  /** Mapping locations whose schema allows unknown keys. */
  open: string[];
  /** Key paths without a description. */
  undescribed: string[];
}

function walkSchema(): Walked {
  const out: Walked = { tables: {}, keyPaths: [], open: [], undescribed: [] };
  const visit = (raw: SchemaNode, at: string): void => {
    const node = deref(raw);
    if (node.properties) {
      if (node.additionalProperties !== false) out.open.push(at);
      const table: Record<string, 'required' | 'optional'> = {};
      for (const [key, child] of Object.entries(node.properties)) {
        const path = at === '' ? key : `${at}.${key}`;
        table[key] = node.required?.includes(key) ? 'required' : 'optional';
        out.keyPaths.push(path);
        if ((child.description ?? deref(child).description) === undefined) out.undescribed.push(path);
        visit(child, path);
      }
      out.tables[at] = table;
    }
    if (node.items) visit(node.items, `${at}[]`);
    for (const branch of node.anyOf ?? []) visit(branch, at);
  };
  visit(eibSchema(), '');
  return out;
}

test('the TypeScript key tables (FILE_KEYS, checked against EibFile) match the schema', () => {
  const { tables } = walkSchema();
  const typed = Object.fromEntries(Object.entries(FILE_KEYS).map(([at, table]) => [at, { ...table }]));
  assert.deepEqual(typed, tables);
});

test('every mapping of the schema rejects unknown keys, and every key has a description', () => {
  const walked = walkSchema();
  assert.deepEqual(walked.open, []);
  assert.deepEqual(walked.undescribed, []);
  assert.ok(eibSchema().description);
});

test('the schema lists exactly the Alpine arches of ALPINE_ARCHES', () => {
  assert.deepEqual(eibSchema().definitions?.['arch']?.enum, [...ALPINE_ARCHES]);
});

test('the README configuration reference names every key of the schema', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.org'), 'utf8');
  const start = readme.indexOf('\n* Configuration reference');
  assert.ok(start >= 0, 'README.org has a "* Configuration reference" section');
  const rest = readme.slice(start + 1);
  const next = rest.slice(1).search(/\n\* /);
  const section = next < 0 ? rest : rest.slice(0, next + 1);
  const missing = walkSchema().keyPaths.filter((path) => !section.includes(`=${path}=`));
  assert.deepEqual(missing, [], 'key paths missing from the README reference');
});

test('the schema ships at SCHEMA_PATH and the fixtures\' editor modelines point at it', () => {
  assert.equal(SCHEMA_PATH, join(REPO_ROOT, 'schemas', 'eib.schema.json'));
  for (const name of ['design-example.yaml', 'full.yaml']) {
    const first = readFileSync(join(REPO_ROOT, 'fixtures', 'configs', name), 'utf8').split('\n')[0] ?? '';
    const target = /\$schema=(\S+)/.exec(first)?.[1];
    assert.ok(target, `${name} starts with a yaml-language-server modeline`);
    assert.equal(join(REPO_ROOT, 'fixtures', 'configs', target), SCHEMA_PATH);
  }
});

test('the validator precompiled by the build is of this schema and agrees with ajv on valid and invalid files', () => {
  assert.ok(existsSync(PRECOMPILED_VALIDATOR_PATH), 'npm run build writes the precompiled validator');
  const precompiled = createRequire(import.meta.url)(PRECOMPILED_VALIDATOR_PATH) as { default: (d: unknown) => boolean; schemaSha256: string };
  assert.equal(precompiled.schemaSha256, schemaSha256());
  const valid = ['design-example.yaml', 'full.yaml', 'minimal.yaml', 'multi-arch.yaml'].map((name) => parse(readFileSync(join(REPO_ROOT, 'fixtures', 'configs', name), 'utf8')) as Record<string, unknown>);
  const invalid = valid.flatMap((c) => [{ ...c, arch: 'arm64' }, { ...c, pacakges: [] }, { ...c, stages: [] }, { ...c, epoch: -1 }]);
  for (const data of [...valid, ...invalid]) assert.equal(precompiled.default(data), schemaValidator()(data), JSON.stringify(data).slice(0, 200));
  assert.deepEqual(valid.map((d) => precompiled.default(d)), [true, true, true, true]);
  assert.ok(invalid.every((d) => !precompiled.default(d)));
});
