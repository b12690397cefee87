/**
 * Trusted apk signing keys. apk matches a signature file `.SIGN.RSA.<name>`
 * to the key file called exactly `<name>` in /etc/apk/keys, so keys are
 * keyed by file basename.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { EibError } from '../errors.js';

export class KeyError extends EibError<'EKEY'> {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('EKEY', message, { ...options, exitCode: 2 });
  }
}

/** Load public keys from files and directories (every `*.pub` in a directory). */
export function loadKeys(paths: readonly string[]): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const path of paths) {
    let files: string[];
    try {
      files = statSync(path).isDirectory()
        ? readdirSync(path)
            .filter((f) => f.endsWith('.pub'))
            .sort()
            .map((f) => join(path, f))
        : [path];
    } catch (e) {
      throw new KeyError(`signing key ${path}: cannot read it (${(e as Error).message}); check alpine.keys`, { cause: e });
    }
    for (const file of files) {
      let key: KeyObject;
      try {
        key = createPublicKey(readFileSync(file));
      } catch (e) {
        throw new KeyError(`signing key ${file}: not a PEM public key (${(e as Error).message})`, { cause: e });
      }
      if (key.asymmetricKeyType !== 'rsa') throw new KeyError(`signing key ${file}: apk keys are RSA, this one is ${key.asymmetricKeyType}`);
      keys.set(basename(file), key);
    }
  }
  return keys;
}
