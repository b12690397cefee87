#!/usr/bin/env node
// Writes dist/src/config/schema-validator.cjs: the validator of
// schemas/eib.schema.json as code (ajv's standalone output), stamped with
// the schema's sha256, so that loading a valid eib.yaml neither loads nor
// runs ajv's compiler. `npm run build` runs it after tsc; eib falls back to
// compiling the schema when this file is missing or the schema changed.
import { writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PRECOMPILED_VALIDATOR_PATH, eibSchema, schemaAjv, schemaSha256 } from '../dist/src/config/schema.js';

const require = createRequire(import.meta.url);
const standaloneCode = require('ajv/dist/standalone').default;
// Validity only: the errors of an invalid file come from ajv at run time.
const ajv = schemaAjv({ code: { source: true } });
const code = `${standaloneCode(ajv, ajv.compile(eibSchema()))}\nmodule.exports.schemaSha256 = ${JSON.stringify(schemaSha256())};\n`;
const tmp = `${PRECOMPILED_VALIDATOR_PATH}.tmp`;
writeFileSync(tmp, code);
renameSync(tmp, PRECOMPILED_VALIDATOR_PATH);
