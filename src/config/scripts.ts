/**
 * The rule for `run` and `host-run`: a list is a list of script files
 * (relative to the config); a string that is a single line naming an
 * existing file is that script file; any other string is inline shell.
 */
import type { Script } from './types.js';
import { expandPath, pathKind } from './paths.js';

/** The file a one-line string may name, or undefined for multi-line text. */
function singleLine(value: string): string | undefined {
  const trimmed = value.trim();
  return trimmed !== '' && !trimmed.includes('\n') ? trimmed : undefined;
}

/** Resolve a `run`/`host-run` string to a script file or inline shell. */
export async function scriptFromString(value: string, dir: string, home: string): Promise<Script> {
  const line = singleLine(value);
  if (line !== undefined) {
    const file = expandPath(line, dir, home);
    if ((await pathKind(file)) === 'file') return { file };
  }
  return { inline: value };
}

/**
 * A one-line string without spaces ending in .sh that names no file is
 * almost certainly a misspelt script path, not shell to run: say so at load
 * time rather than fail later with "not found" inside the build.
 */
export function looksLikeScriptPath(value: string): boolean {
  const line = singleLine(value);
  return line !== undefined && !/\s/.test(line) && line.endsWith('.sh');
}
