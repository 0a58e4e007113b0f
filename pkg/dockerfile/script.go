package dockerfile

import (
	"path"
	"sort"
	"strings"
	"unicode"
)

// A script is shell code a RUN executes, with a map from its byte offsets
// back to lines and columns of the Dockerfile.
type script struct {
	text string
	pos  posMap
	cmds []shCmd
}

// posMap maps offsets of a script to Dockerfile positions. Without
// segments every offset maps to the fallback position, the instruction's.
type posMap struct {
	segs      []seg
	base      int // offset of the script in the text the segments describe
	line, col int // fallback
}

type seg struct{ off, line, col int }

func (m *posMap) at(off int) (line, col int) {
	if len(m.segs) == 0 {
		return m.line, m.col
	}
	off += m.base
	i := sort.Search(len(m.segs), func(i int) bool { return m.segs[i].off > off }) - 1
	if i < 0 {
		i = 0
	}
	s := m.segs[i]
	return s.line, s.col + off - s.off
}

// runScripts returns the shell code of a RUN: the shell-form command, the
// bodies of heredocs run by a shell, or the script of an exec-form
// ["sh", "-c", "…"]. An exec-form RUN of another program is returned as a
// script of that one command.
func (f *file) runScripts(in *instr) []script {
	n := in.node
	if n.Next == nil {
		return nil
	}
	fallback := posMap{line: in.line, col: in.col}
	if in.isJSON() {
		args := in.args()
		if isShell(path.Base(args[0])) {
			for i := 1; i+1 < len(args); i++ {
				if o := args[i]; len(o) > 1 && o[0] == '-' && o[1] != '-' && strings.HasSuffix(o, "c") {
					return []script{{text: args[i+1], pos: fallback, cmds: splitScript(args[i+1])}}
				}
			}
		}
		return []script{{text: strings.Join(args, " "), pos: fallback, cmds: []shCmd{{words: args, parent: -1}}}}
	}
	if !in.stage.posix {
		return nil
	}
	line := n.Next.Value
	main := script{text: line, pos: f.logicalMap(in, line), cmds: splitScript(line)}
	scripts := []script{main}
	if len(n.Heredocs) == 0 || !heredocIsScript(main.cmds) {
		return scripts
	}
	// Heredoc bodies follow the instruction's logical line, each ended by
	// its terminator line; count back from the last line to place them.
	first := make([]int, len(n.Heredocs))
	end := n.EndLine
	for h := len(n.Heredocs) - 1; h >= 0; h-- {
		first[h] = end - strings.Count(n.Heredocs[h].Content, "\n")
		end = first[h] - 1
	}
	for h, hd := range n.Heredocs {
		if sb, ok := strings.CutPrefix(hd.Content, "#!"); ok {
			interp := strings.Fields(strings.SplitN(sb, "\n", 2)[0])
			if len(interp) == 0 || !isShell(path.Base(interp[0])) && !(path.Base(interp[0]) == "env" && len(interp) > 1 && isShell(interp[1])) {
				continue
			}
		}
		m := posMap{segs: []seg{{0, first[h], 1}}}
		for i := 0; i < len(hd.Content); i++ {
			if hd.Content[i] == '\n' && i+1 < len(hd.Content) {
				m.segs = append(m.segs, seg{i + 1, first[h] + len(m.segs), 1})
			}
		}
		scripts = append(scripts, script{text: hd.Content, pos: m, cmds: splitScript(hd.Content)})
	}
	return scripts
}

// heredocIsScript reports whether a RUN's heredocs are shell code: the
// command line is only heredoc markers (`RUN <<EOF`), or a shell reading
// its standard input (`RUN bash -e <<EOF`), not a program fed data
// (`RUN python3 <<EOF`, `RUN cat <<EOF >/etc/conf`).
func heredocIsScript(cmds []shCmd) bool {
	if len(cmds) == 0 {
		return true
	}
	if len(cmds) > 1 || !isShell(path.Base(cmds[0].words[0])) {
		return false
	}
	for _, w := range cmds[0].words[1:] {
		if !strings.HasPrefix(w, "-") || strings.HasSuffix(w, "c") && !strings.HasPrefix(w, "--") {
			return false
		}
	}
	return true
}

// logicalMap maps offsets of value, the arguments of the instruction as
// BuildKit joined them from continuation lines, back to the Dockerfile.
// It rebuilds the joined line as the parser does: leading blanks of the
// first line dropped, comment and blank lines inside the instruction
// skipped, each continuation escape removed with the blanks after it.
// When the rebuild does not end with value (an input it does not model),
// every offset maps to the instruction's position.
func (f *file) logicalMap(in *instr, value string) posMap {
	fallback := posMap{line: in.line, col: in.col}
	var b strings.Builder
	var segs []seg
	for k := in.line; k >= 1 && k <= len(f.lines); k++ {
		raw := f.lines[k-1]
		a := 0
		if k == in.line {
			a = len(raw) - len(strings.TrimLeftFunc(raw, unicode.IsSpace))
		} else {
			t := strings.TrimLeftFunc(raw, unicode.IsSpace)
			if t == "" || t[0] == '#' {
				continue
			}
		}
		piece, more := trimContinuation(raw[a:], byte(f.escape))
		segs = append(segs, seg{b.Len(), k, a + 1})
		b.WriteString(piece)
		if !more {
			break
		}
	}
	logical := strings.TrimRightFunc(b.String(), unicode.IsSpace)
	if !strings.HasSuffix(logical, value) {
		return fallback
	}
	return posMap{segs: segs, base: len(logical) - len(value), line: in.line, col: in.col}
}

// trimContinuation removes a trailing line-continuation escape (and the
// blanks after it) as BuildKit's parser does: an escape preceded by
// another escape is an escaped escape, not a continuation.
func trimContinuation(s string, esc byte) (string, bool) {
	t := strings.TrimRight(s, " \t")
	n := len(t)
	if n > 0 && t[n-1] == esc && (n == 1 || t[n-2] != esc) {
		return t[:n-1], true
	}
	return s, false
}

func isShell(prog string) bool {
	switch prog {
	case "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh":
		return true
	}
	return false
}
