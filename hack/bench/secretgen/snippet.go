package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// lang is the syntax of a file, which decides how a value is written into
// it.
type lang uint8

const (
	langGo lang = iota
	langPy
	langJS
	langTS
	langJava
	langYAML
	langJSON
	langK8s // multi-document Kubernetes manifests
	langTF
	langEnv
	langDocker
	langShell
	langMD
	langLog
	langCSV
	langBundle // minified JavaScript, very long lines
	langLock   // package-lock.json
	langIgnore // .gitignore
	langCarrier
)

// mark is a value written into a snippet: a planted secret, or (decoy) a
// placeholder or noise that must not be reported. Lines are 0-based
// offsets within the snippet until the snippet is placed in a file.
type mark struct {
	kind   string
	value  string // the secret as a tool would extract it
	onDisk string // how it is written (indented, escaped)
	line   int    // where the value starts
	start  int    // first line of the credential's context (an AWS pair's first line)
	end    int    // last line of the value
	col    int    // 1-based byte column of the value on its line
	decoy  bool
}

// snippet is text to insert into a file with the values it holds.
type snippet struct {
	text  string
	marks []mark
}

// sb builds a snippet, tracking the line each value lands on.
type sb struct {
	b     strings.Builder
	lines int
	marks []mark
}

func (s *sb) lit(t string) {
	s.b.WriteString(t)
	s.lines += strings.Count(t, "\n")
}

// val writes rendered, the on-disk form of value, and records it.
func (s *sb) val(kind, value, rendered string, decoy bool) int {
	l := s.lines
	col := len(s.b.String()) - strings.LastIndexByte(s.b.String(), '\n')
	s.lit(rendered)
	end := l + strings.Count(strings.TrimSuffix(rendered, "\n"), "\n")
	s.marks = append(s.marks, mark{kind: kind, value: value, onDisk: rendered, line: l, start: l, end: end, col: col, decoy: decoy})
	return len(s.marks) - 1
}

// extend makes mark i's span run to the last line written so far, for
// credentials in two parts (an AWS key ID and its secret key).
func (s *sb) extend(i int) {
	last := s.lines
	if strings.HasSuffix(s.b.String(), "\n") {
		last--
	}
	s.marks[i].end = max(s.marks[i].end, last)
}

func (s *sb) snippet() snippet { return snippet{text: s.b.String(), marks: s.marks} }

// Name styles for a variable made of words.
func camel(w []string) string {
	var b strings.Builder
	for i, x := range w {
		if i == 0 {
			b.WriteString(x)
		} else {
			b.WriteString(strings.ToUpper(x[:1]) + x[1:])
		}
	}
	return b.String()
}

func snake(w []string) string { return strings.Join(w, "_") }
func upper(w []string) string { return strings.ToUpper(snake(w)) }

// needsQuotes says whether a YAML plain scalar would change meaning.
func needsQuotes(v string) bool {
	return v == "" || strings.ContainsAny(v, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(v) != v
}

func indent(s, pre string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(pre + l)
		}
	}
	return b.String()
}

// escapeNL writes a multi-line value on one line, as JSON and .env files
// carry keys.
func escapeNL(v string) string { return strings.ReplaceAll(v, "\n", `\n`) }

// assign writes "name = value" in the syntax of l, where the file's
// generator puts top-level statements, and records the value.
func assign(r *rand.Rand, s *sb, l lang, words []string, kind, v string, decoy bool) int {
	multi := strings.Contains(v, "\n")
	switch l {
	case langGo:
		if multi {
			s.lit("var " + camel(words) + " = `")
			i := s.val(kind, v, v, decoy)
			s.lit("`\n")
			return i
		}
		s.lit("var " + camel(words) + " = \"")
		i := s.val(kind, v, v, decoy)
		s.lit("\"\n")
		return i
	case langPy:
		if multi {
			s.lit(upper(words) + ` = """`)
			i := s.val(kind, v, v, decoy)
			s.lit("\"\"\"\n")
			return i
		}
		q := pick(r, `"`, `'`)
		s.lit(upper(words) + " = " + q)
		i := s.val(kind, v, v, decoy)
		s.lit(q + "\n")
		return i
	case langJS, langTS:
		pre := "const "
		if l == langTS {
			pre = "export const "
		}
		if multi {
			s.lit(pre + camel(words) + " = `")
			i := s.val(kind, v, v, decoy)
			s.lit("`;\n")
			return i
		}
		q := pick(r, `"`, `'`)
		s.lit(pre + camel(words) + " = " + q)
		i := s.val(kind, v, v, decoy)
		s.lit(q + ";\n")
		return i
	case langJava:
		if multi {
			s.lit("    private static final String " + upper(words) + " = \"\"\"\n")
			i := s.val(kind, v, indent(v, "        "), decoy)
			s.lit("        \"\"\";\n")
			return i
		}
		s.lit("    private static final String " + upper(words) + " = \"")
		i := s.val(kind, v, v, decoy)
		s.lit("\";\n")
		return i
	case langYAML:
		if multi {
			s.lit(snake(words) + ": |\n")
			return s.val(kind, v, indent(v, "  "), decoy)
		}
		if needsQuotes(v) {
			s.lit(snake(words) + ": \"")
			i := s.val(kind, v, v, decoy)
			s.lit("\"\n")
			return i
		}
		s.lit(snake(words) + ": ")
		i := s.val(kind, v, v, decoy)
		s.lit("\n")
		return i
	case langK8s:
		s.lit("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + pick(r, svcNames...) + "-config\n  namespace: " +
			pick(r, namespaces...) + "\ndata:\n")
		if multi {
			s.lit("  " + snake(words) + ": |\n")
			return s.val(kind, v, indent(v, "    "), decoy)
		}
		s.lit("  " + upper(words) + ": \"")
		i := s.val(kind, v, v, decoy)
		s.lit("\"\n")
		return i
	case langJSON:
		s.lit("  \"" + camel(words) + "\": \"")
		i := s.val(kind, v, escapeNL(v), decoy)
		s.lit("\",\n")
		return i
	case langTF:
		if multi {
			s.lit("locals {\n  " + snake(words) + " = <<EOT\n")
			i := s.val(kind, v, v, decoy)
			s.lit("EOT\n}\n\n")
			return i
		}
		s.lit("locals {\n  " + snake(words) + " = \"")
		i := s.val(kind, v, v, decoy)
		s.lit("\"\n}\n\n")
		return i
	case langEnv:
		if multi {
			s.lit(upper(words) + "=\"")
			i := s.val(kind, v, escapeNL(v), decoy)
			s.lit("\"\n")
			return i
		}
		s.lit(upper(words) + "=")
		i := s.val(kind, v, v, decoy)
		s.lit("\n")
		return i
	case langDocker:
		s.lit("ENV " + upper(words) + "=\"")
		i := s.val(kind, v, escapeNL(v), decoy)
		s.lit("\"\n")
		return i
	case langShell:
		if multi {
			s.lit("cat > \"$HOME/." + snake(words) + "\" <<'EOF'\n")
			i := s.val(kind, v, v, decoy)
			s.lit("EOF\n")
			return i
		}
		s.lit("export " + upper(words) + "='")
		i := s.val(kind, v, v, decoy)
		s.lit("'\n")
		return i
	case langMD:
		if multi {
			s.lit("\n```\n")
			i := s.val(kind, v, v, decoy)
			s.lit("```\n\n")
			return i
		}
		s.lit("\n```sh\nexport " + upper(words) + "=")
		i := s.val(kind, v, v, decoy)
		s.lit("\n```\n\n")
		return i
	case langLog:
		s.lit(logPrefix(r, pick(r, "DEBUG", "INFO", "WARN")) + " loaded configuration " + snake(words) + "=")
		i := s.val(kind, v, escapeNL(v), decoy)
		s.lit("\n")
		return i
	case langBundle:
		s.lit("," + camel(words) + ":\"")
		i := s.val(kind, v, v, decoy)
		s.lit("\"")
		return i
	}
	panic(fmt.Sprintf("assign: no syntax for lang %d", l)) // a kind listed a host it cannot render into
}
