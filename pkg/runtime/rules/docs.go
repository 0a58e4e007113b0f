package rules

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes a reference of the set's rules and lists: a table
// of the rules, then each rule's description, condition and paths.
func (s *Set) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cell := func(v string) string { return strings.ReplaceAll(v, "|", `\|`) }
	b.WriteString("| Rule | Title | Severity | MITRE ATT&CK | Events | Action | Default |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range s.rules {
		mitre := r.Technique
		if r.Tactic != "" {
			mitre += " (" + r.Tactic + ")"
		}
		action := string(r.Action)
		if r.Action == Kill {
			action += ", " + string(r.Mode)
			if r.Kernel != nil {
				action += ", in kernel"
			}
		}
		state := "on"
		if !r.Enabled {
			state = "off"
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s | %s | %s | %s |\n", r.ID, r.ID, cell(r.Title), r.Severity,
			cell(mitre), joinKinds(r.Events), action, state)
	}
	for _, r := range s.rules {
		fmt.Fprintf(&b, "\n### %s\n\n%s.", r.ID, r.Title)
		if r.Description != "" {
			b.WriteString(" " + r.Description)
		}
		b.WriteString("\n\n```cel\n" + r.Condition + "\n```\n")
		if len(r.Paths) > 0 {
			b.WriteString("\nWatched paths:")
			for _, p := range r.Paths {
				fmt.Fprintf(&b, " `%s*%s` (%s)", p.Prefix, p.Suffix, p.Access)
			}
			b.WriteString("\n")
		}
	}
	if len(s.lists) > 0 {
		b.WriteString("\n## Lists\n\n| List | Items |\n|---|---|\n")
		for _, name := range s.listNames() {
			items := make([]string, len(s.lists[name].items))
			for i, it := range s.lists[name].items {
				items[i] = fmt.Sprint(it)
			}
			fmt.Fprintf(&b, "| `lists.%s` | %s |\n", name, cell(strings.Join(items, ", ")))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
