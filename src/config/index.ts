/** The configuration file: its format (schemas/eib.schema.json), loading and the normalized Config. */
export { loadConfig, parseConfig, DEFAULT_CONFIG_NAME, type LoadConfigOptions, type ParseConfigOptions } from './load.js';
export { ConfigFileError } from './errors.js';
export { SCHEMA_PATH, eibSchema } from './schema.js';
export { DEFAULT_OCI_DIR, DEFAULT_TAG } from './normalize.js';
export { defaultCacheDir } from './paths.js';
export type * from './types.js';
export { ALPINE_ARCHES } from './types.js';
export type * from './file-types.js';
export { FILE_KEYS, STAGE_STEPS } from './file-types.js';
