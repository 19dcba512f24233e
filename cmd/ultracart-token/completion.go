package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// runCompletion is the completion command: a completion script for bash or
// zsh, made from the tables of commands and options, on stdout. --merchant
// completes the profiles, read from the directory the script names.
//
//	source <(ultracart-token completion bash)   # in ~/.bashrc
//	source <(ultracart-token completion zsh)    # in ~/.zshrc
func runCompletion(_ context.Context, o *options, e *env) error {
	if len(o.args) != 1 {
		return usageError{"completion: name the shell: ultracart-token completion bash (or zsh)"}
	}
	switch o.args[0] {
	case "bash":
		writeBashCompletion(e.stdout)
	case "zsh":
		// zsh runs the bash function through its bash completion layer.
		fmt.Fprint(e.stdout, "#compdef ultracart-token\nautoload -U +X bashcompinit && bashcompinit\n")
		writeBashCompletion(e.stdout)
	default:
		return usageError{fmt.Sprintf("completion: unknown shell %q: bash or zsh", o.args[0])}
	}
	return nil
}

func writeBashCompletion(w io.Writer) {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
		if c.alias != "" {
			names = append(names, c.alias)
		}
	}
	names = append(names, "help", "--help", "--version")
	var withValue, withPath []string
	for _, f := range optionTable {
		if f.name == "" || f.arg == "" {
			continue
		}
		withValue = append(withValue, "--"+f.name)
		if f.arg == "PATH" {
			withPath = append(withPath, "--"+f.name)
		}
	}
	profiles := "/nonexistent"
	if dir, err := configDir(); err == nil {
		profiles = filepath.Join(dir, "merchants")
	}
	fmt.Fprintf(w, `# bash completion for ultracart-token; load it with:
#   source <(ultracart-token completion bash)
_ultracart_token() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" i f n names=""
	case $prev in
	--merchant)
		for f in %s/*.json; do
			n=${f##*/} n=${n%%.json}
			[[ -f $f && $n != *.* ]] && names+=" $n"
		done
		COMPREPLY=($(compgen -W "$names" -- "$cur")); return ;;
	%s) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	%s) return ;;
	esac
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		%s) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $cmd in
	"") COMPREPLY=($(compgen -W %q -- "$cur")); return ;;
	help) COMPREPLY=($(compgen -W %q -- "$cur")); return ;;
	esac
	local flags=""
	case $cmd in
`, shellQuote(profiles), strings.Join(withPath, "|"), strings.Join(withValue, "|"), strings.Join(withValue, "|"),
		strings.Join(names, " "), strings.Join(names[:len(names)-3], " "))
	for _, c := range commands {
		pattern := c.name
		if c.alias != "" {
			pattern += "|" + c.alias
		}
		words := []string{"--help"}
		for _, f := range optionTable {
			if c.flags&f.group != 0 && f.name != "" {
				words = append(words, "--"+f.name)
			}
		}
		if c.name == "completion" {
			words = append(words, "bash", "zsh")
		}
		fmt.Fprintf(w, "\t%s) flags=%q ;;\n", pattern, strings.Join(words, " "))
	}
	fmt.Fprint(w, `	esac
	COMPREPLY=($(compgen -W "$flags" -- "$cur"))
}
complete -o default -F _ultracart_token ultracart-token
`)
}
