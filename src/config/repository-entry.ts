/**
 * One entry of alpine.repositories, written as a line of apk's
 * /etc/apk/repositories: "LOCATION", or "@tag LOCATION" for a tagged
 * repository, whose packages are used only when a package is asked for as
 * name@tag (and for what those depend on), as apk-tools pins them.
 */
export interface RepositoryEntry {
  /** An http(s) URL or a path. */
  location: string;
  tag?: string;
}

const TAGGED = /^@([A-Za-z0-9._-]+)\s+(\S.*)$/;

export function parseRepositoryEntry(text: string): RepositoryEntry {
  const m = TAGGED.exec(text.trim());
  return m ? { location: m[2]!.trim(), tag: m[1]! } : { location: text.trim() };
}

export function formatRepositoryEntry(entry: RepositoryEntry): string {
  return entry.tag === undefined ? entry.location : `@${entry.tag} ${entry.location}`;
}
