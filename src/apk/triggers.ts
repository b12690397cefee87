/**
 * Trigger matching as apk-tools does it: a package's trigger globs are
 * matched with fnmatch(FNM_PATHNAME) against the rooted names ("/usr/bin")
 * of the directories the transaction changed; the matches become the
 * trigger script's arguments.
 */

/** fnmatch(3) with FNM_PATHNAME: `*`, `?` and `[...]` never match "/". */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        source += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      source += `(?!/)[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else if (c === '\\' && i + 1 < glob.length) {
      source += (glob[++i] ?? '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The touched directories (rooted, in first-touched order) that any of `globs` matches. */
export function matchTriggers(globs: readonly string[], touchedDirs: Iterable<string>): string[] {
  const patterns = globs.map(globToRegExp);
  const matched: string[] = [];
  for (const dir of touchedDirs) {
    if (patterns.some((p) => p.test(dir))) matched.push(dir);
  }
  return matched;
}
