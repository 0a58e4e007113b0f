package rules

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes a reference of the set's rules and lists.
func (s *Set) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	cell := func(v string) string { return strings.ReplaceAll(v, "|", `\|`) }
	b.WriteString("| Rule | Title | Severity | MITRE ATT&CK | Level | Default |\n|---|---|---|---|---|---|\n")
	for _, r := range s.rules {
		mitre := r.Technique
		if r.TechniqueName != "" {
			mitre += " " + r.TechniqueName
		}
		if r.Tactic != "" {
			mitre += " (" + r.Tactic + ")"
		}
		state := "on"
		if !r.Enabled {
			state = "off"
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s | %s | %s |\n", r.ID, r.ID, cell(r.Title), r.Severity, cell(mitre), r.Match.Level, state)
	}
	for _, r := range s.rules {
		fmt.Fprintf(&b, "\n### %s\n\n%s.", r.ID, r.Title)
		if r.Description != "" {
			b.WriteString(" " + r.Description)
		}
		b.WriteString("\n\n")
		if len(r.Match.Verbs) > 0 {
			fmt.Fprintf(&b, "Verbs: %s. ", strings.Join(r.Match.Verbs, ", "))
		}
		if len(r.Match.Resources) > 0 {
			var rs []string
			for _, gr := range r.Match.Resources {
				g := gr.Group
				if g == "" {
					g = "core"
				}
				rs = append(rs, g+": "+strings.Join(gr.Resources, ", "))
			}
			fmt.Fprintf(&b, "Resources: %s. ", strings.Join(rs, "; "))
		}
		if len(r.Match.Namespaces) > 0 {
			fmt.Fprintf(&b, "Namespaces: %s. ", strings.Join(r.Match.Namespaces, ", "))
		}
		if a := r.Aggregate; a != nil {
			fmt.Fprintf(&b, "Raises at %d matching events within %s by %s. ", a.Count, a.Window, a.By)
		}
		b.WriteString("\n\n```cel\n" + r.Condition + "\n```\n")
	}
	if len(s.listOrder) > 0 {
		b.WriteString("\n## Lists\n\n| List | Items |\n|---|---|\n")
		for _, name := range s.listOrder {
			fmt.Fprintf(&b, "| `lists.%s` | %s |\n", name, cell(strings.Join(s.lists[name], ", ")))
		}
	}
	if len(s.macros) > 0 {
		b.WriteString("\n## Macros\n")
		for _, m := range s.macros {
			fmt.Fprintf(&b, "\n`macros.%s`:\n\n```cel\n%s\n```\n", m.name, strings.TrimSpace(m.doc.macro.Condition))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
