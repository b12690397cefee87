/**
 * Shell completion scripts for eib, generated from the commands' own
 * metadata (names, flags, flag values, arguments), so they never fall
 * behind the CLI. bash gets a completion function; zsh loads the same
 * function through its bashcompinit layer. Stage names are asked of eib
 * itself (`eib completion --stages`, from ./eib.yaml or $EIB_CONFIG) when a
 * stage is expected; arches and other fixed values are in the script.
 */

export interface CompletionFlag {
  readonly name: string;
  readonly char?: string | undefined;
  /** Whether the flag takes a value (--arch X) or is a switch (--json). */
  readonly takesValue: boolean;
  /** Fixed values, when the flag has them (arches). */
  readonly options?: readonly string[] | undefined;
}

export interface CompletionCommand {
  /** oclif id: "build", "cache:verify". */
  readonly id: string;
  readonly flags: readonly CompletionFlag[];
  /** Positional arguments, in order. */
  readonly args: readonly { readonly name: string; readonly options?: readonly string[] | undefined }[];
}

export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** What a value is completed from: fixed words, stage names, folders, or files. */
function valueSource(name: string, options: readonly string[] | undefined): string {
  if (options && options.length > 0) return `words ${options.join(' ')}`;
  if (name === 'stage') return 'stages';
  if (name === 'dir') return 'dirs';
  return 'files';
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function bashFunction(commands: readonly CompletionCommand[]): string {
  const visible = [...commands].sort((a, b) => a.id.localeCompare(b.id));
  const topWords = [...new Set(visible.map((c) => c.id.split(':')[0]!))].sort();
  const topics = [...new Set(visible.filter((c) => c.id.includes(':')).map((c) => c.id.split(':')[0]!))].sort();
  const valued = [...new Set(visible.flatMap((c) => c.flags.filter((f) => f.takesValue).flatMap((f) => [`--${f.name}`, ...(f.char ? [`-${f.char}`] : [])])))].sort();
  const cases = visible.map((c) => {
    const flagWords = c.flags.flatMap((f) => [`--${f.name}`, ...(f.char ? [`-${f.char}`] : [])]).join(' ');
    const valueCases = c.flags
      .filter((f) => f.takesValue)
      .map((f) => `        ${[`--${f.name}`, ...(f.char ? [`-${f.char}`] : [])].join('|')}) _eib_values ${valueSource(f.name, f.options)}; return ;;`)
      .join('\n');
    const argCases = c.args.map((a, i) => `        ${i}) _eib_values ${valueSource(a.name, a.options)} ;;`).join('\n');
    return [
      `    ${c.id})`,
      `      case $prev in`,
      ...(valueCases ? [valueCases] : []),
      `      esac`,
      `      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W ${quote(flagWords)} -- "$cur")); return; fi`,
      `      case $nargs in`,
      ...(argCases ? [argCases] : []),
      `      esac ;;`,
    ].join('\n');
  });
  return `_eib_values() {
  local kind=$1; shift
  case $kind in
    words) COMPREPLY=($(compgen -W "$*" -- "$cur")) ;;
    stages) COMPREPLY=($(compgen -W "$(eib completion --stages 2>/dev/null)" -- "$cur")) ;;
    dirs) COMPREPLY=($(compgen -d -- "$cur")) ;;
    files) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}

_eib() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local valued=${quote(` ${valued.join(' ')} `)} topics=${quote(` ${topics.join(' ')} `)}
  local cmd='' nargs=0 i w
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ $w == -- ]]; then nargs=99; break; fi
    if [[ $w == -* ]]; then
      [[ $valued == *" $w "* ]] && ((i++))
      continue
    fi
    if [[ -z $cmd ]]; then cmd=$w
    elif [[ $topics == *" $cmd "* ]]; then cmd=$cmd:$w
    else ((nargs++))
    fi
  done
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W ${quote(topWords.join(' '))} -- "$cur")); return
  fi
  case $cmd in
${topics.map((t) => `    ${t}) COMPREPLY=($(compgen -W ${quote(visible.filter((c) => c.id.startsWith(`${t}:`)).map((c) => c.id.slice(t.length + 1)).join(' '))} -- "$cur")); return ;;`).join('\n')}
${cases.join('\n')}
  esac
}
`;
}

/** The completion script for `shell`, to be sourced (or installed where the shell looks for completions). */
export function completionScript(shell: CompletionShell, commands: readonly CompletionCommand[]): string {
  const fn = bashFunction(commands);
  if (shell === 'bash') {
    return `# eib completion for bash. Load it in ~/.bashrc:
#   source <(eib completion bash)
# or install it: eib completion bash > ~/.local/share/bash-completion/completions/eib
${fn}complete -o filenames -F _eib eib
`;
  }
  return `# eib completion for zsh. Load it in ~/.zshrc (after compinit):
#   source <(eib completion zsh)
# zsh runs the same completion function as bash, through bashcompinit.
autoload -U +X bashcompinit && bashcompinit
${fn}complete -o filenames -F _eib eib
`;
}
