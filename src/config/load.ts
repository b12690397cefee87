/**
 * Finding, parsing, validating and normalizing eib.yaml. Every problem of
 * the file is collected and thrown at once as one ConfigError whose lines
 * read `eib.yaml:LINE:COL: what is wrong; what is expected`.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigDiagnostic } from '../errors.js';
import { ConfigFileError } from './errors.js';
import type { EibFile } from './file-types.js';
import { normalize } from './normalize.js';
import { homeDir } from './paths.js';
import { schemaProblems } from './schema-problems.js';
import { semanticProblems } from './semantic.js';
import type { Config } from './types.js';
import { YamlSource, type Problem } from './yaml-source.js';

export const DEFAULT_CONFIG_NAME = 'eib.yaml';

export interface LoadConfigOptions {
  /** The config path as the user gave it (--config, else $EIB_CONFIG); default eib.yaml in cwd. */
  path?: string | undefined;
  /** Directory a relative `path` and the default eib.yaml are found in. */
  cwd: string;
  /** Environment for ~ (HOME) and the default cache dir (XDG_CACHE_HOME); default process.env. */
  env?: NodeJS.ProcessEnv | undefined;
}

export interface ParseConfigOptions {
  /** Where the text comes from: relative paths in it resolve against this file's folder. */
  file: string;
  /** How the file is named in diagnostics; default the path's basename. */
  displayName?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

/** Read the configuration file and return it validated and normalized. */
export async function loadConfig(options: LoadConfigOptions): Promise<Config> {
  const given = options.path ?? DEFAULT_CONFIG_NAME;
  const file = resolve(options.cwd, given);
  let text: string;
  try {
    text = await readRegularFile(file, given);
  } catch (e) {
    if (e instanceof ConfigFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const hint =
        options.path === undefined
          ? `create ${DEFAULT_CONFIG_NAME} in ${options.cwd}, or pass --config PATH (or set EIB_CONFIG)`
          : 'check the path given with --config or EIB_CONFIG';
      throw new ConfigFileError('ENOCONFIG', given, `no configuration file: ${given} does not exist (${file}); ${hint}`, { cause: e });
    }
    const why = code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new ConfigFileError('ECONFIGREAD', given, `cannot read configuration file ${given}: ${why}; expected a readable YAML file`, { cause: e });
  }
  return parseConfig(text, { file, displayName: options.path ?? DEFAULT_CONFIG_NAME, env: options.env });
}

/**
 * The file's text, refused at once when it is not a regular file: opened
 * without blocking (a FIFO would wait for a writer forever) and checked on
 * the open descriptor, so what is checked is what is read.
 */
async function readRegularFile(file: string, given: string): Promise<string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO (named pipe)' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : 'not a regular file';
      throw new ConfigFileError('ECONFIGREAD', given, `cannot read configuration file ${given}: it is ${kind}; expected a regular YAML file`);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Validate and normalize configuration text as if read from `options.file`. */
export async function parseConfig(text: string, options: ParseConfigOptions): Promise<Config> {
  const file = resolve(options.file);
  const name = options.displayName ?? file.split('/').pop() ?? file;
  const env = options.env ?? process.env;
  const source = new YamlSource(text);
  const fail = (problems: readonly Problem[]): ConfigError => new ConfigError(diagnostics(source, name, problems));

  if (source.empty) {
    throw fail([{ path: [], at: 'value', message: 'the file is empty; expected a mapping with at least name, arch, alpine and stages' }]);
  }
  const syntax = source.syntaxProblems();
  if (syntax.length > 0) throw fail(syntax);

  const data = source.data();
  const problems = [...schemaProblems(data), ...(await semanticProblems(data, { dir: dirname(file), home: homeDir(env), configName: name }))];
  if (problems.length > 0) throw fail(problems);
  return normalize(data as EibFile, file, env, (path) => ({ file: name, ...source.position({ path, at: 'value', message: '' }) }));
}

/** Problems located in the source, sorted by position, each reported once. */
function diagnostics(source: YamlSource, file: string, problems: readonly Problem[]): ConfigDiagnostic[] {
  const seen = new Set<string>();
  const out: ConfigDiagnostic[] = [];
  for (const p of problems) {
    const { line, column } = source.position(p);
    const d = { file, line, column, message: p.message };
    const key = `${line}:${column}:${p.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(d);
    }
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}
