package dockerfile

import "strings"

// A shCmd is one simple command of a shell script: the words of
// `apt-get install -y curl` in `apt-get update && apt-get install -y curl`.
type shCmd struct {
	// words are the command's words with quotes removed. A word holding an
	// expansion or a substitution keeps its '$' or '`' so that rules can
	// tell it is not a literal.
	words []string
	// pos is the byte offset of the first word in the script.
	pos int
	// op is the operator before the command: "" for the first, or one of
	// "&&", "||", ";", "|", "&", "\n".
	op string
	// depth counts the subshells, command and process substitutions the
	// command is nested in.
	depth int
	// parent is the index of the command a substitution belongs to, -1 at
	// top level; procSubst says the substitution is <(...) or >(...).
	parent    int
	procSubst bool
}

// splitScript splits a POSIX shell script into its simple commands at
// &&, ||, ;, |, & and newlines, respecting quotes, escapes, comments,
// subshells, command substitutions and here-documents (whose bodies are
// data, not commands). It never fails: the shell reports syntax errors at
// build time, and a lint judges what it can.
func splitScript(script string) []shCmd {
	s := splitter{src: script, cur: -1}
	s.run()
	return s.cmds
}

type frame struct {
	cmd       int // index of the enclosing command, -1 for a plain subshell
	close     byte
	procSubst bool
}

type splitter struct {
	src   string
	i     int
	cmds  []shCmd
	stack []frame
	// pending are the words a substitution was opened in, resumed when it
	// closes.
	pending []pendingWord

	cur    int // index of the command being built, -1 between commands
	word   strings.Builder
	inWord bool
	// simple says the word so far is src[wordPos:i] as written (no quotes,
	// escapes or substitutions): it is sliced from the script, not built.
	simple  bool
	wordPos int
	op      string
	// heredocs are delimiters of here-documents whose bodies start at the
	// next newline.
	heredocs []heredocDelim
}

type heredocDelim struct {
	word  string
	strip bool // <<- strips leading tabs
}

type pendingWord struct {
	text string // the word before the substitution
	pos  int    // where the word starts
	open int    // where the substitution starts
}

func (s *splitter) parent() (int, bool) {
	for j := len(s.stack) - 1; j >= 0; j-- {
		if s.stack[j].cmd >= 0 {
			return s.stack[j].cmd, s.stack[j].procSubst
		}
	}
	return -1, false
}

// startWord begins a word at the current offset.
func (s *splitter) startWord() {
	if s.inWord {
		return
	}
	s.inWord = true
	s.simple = true
	s.wordPos = s.i
}

// complex switches the current word from slicing to building.
func (s *splitter) complex() {
	if s.inWord && s.simple {
		s.word.Reset()
		s.word.WriteString(s.src[s.wordPos:s.i])
		s.simple = false
	}
}

// ensureCommand starts a command at pos if none is being built.
func (s *splitter) ensureCommand(pos int) {
	if s.cur >= 0 {
		return
	}
	parent, ps := s.parent()
	s.cmds = append(s.cmds, shCmd{pos: pos, op: s.op, depth: len(s.stack), parent: parent, procSubst: ps})
	s.cur = len(s.cmds) - 1
	s.op = ""
}

func (s *splitter) endWord() {
	if !s.inWord {
		return
	}
	s.inWord = false
	s.ensureCommand(s.wordPos)
	w := s.src[s.wordPos:s.i]
	if !s.simple {
		w = s.word.String()
	}
	s.cmds[s.cur].words = append(s.cmds[s.cur].words, w)
}

// endCommand finishes the command being built; op is the operator that
// ends it and starts the next.
func (s *splitter) endCommand(op string) {
	s.endWord()
	s.cur = -1
	s.op = op
}

func (s *splitter) run() {
	src := s.src
	for s.i < len(src) {
		c := src[s.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			s.endWord()
			s.i++
		case c == '\n':
			s.endCommand("\n")
			s.i++
			s.skipHeredocBodies()
		case c == '\\':
			if s.i+1 < len(src) && src[s.i+1] == '\n' { // line continuation
				s.complex()
				s.i += 2
				continue
			}
			s.startWord()
			s.complex()
			if s.i+1 < len(src) {
				s.word.WriteByte(src[s.i+1])
				s.i += 2
			} else {
				s.i++
			}
		case c == '\'':
			s.startWord()
			s.complex()
			end := strings.IndexByte(src[s.i+1:], '\'')
			if end < 0 {
				s.word.WriteString(src[s.i+1:])
				s.i = len(src)
			} else {
				s.word.WriteString(src[s.i+1 : s.i+1+end])
				s.i += end + 2
			}
		case c == '"':
			s.startWord()
			s.complex()
			s.doubleQuote()
		case c == '#' && !s.inWord:
			// A comment runs to the end of the line.
			if nl := strings.IndexByte(src[s.i:], '\n'); nl >= 0 {
				s.i += nl
			} else {
				s.i = len(src)
			}
		case c == '&':
			if strings.HasPrefix(src[s.i:], "&&") {
				s.endCommand("&&")
				s.i += 2
			} else if strings.HasPrefix(src[s.i:], "&>") { // &> file: a redirection
				s.endWord()
				s.i += 2
				s.skipRedirectTarget()
			} else {
				s.endCommand("&")
				s.i++
			}
		case c == '|':
			switch {
			case strings.HasPrefix(src[s.i:], "||"):
				s.endCommand("||")
				s.i += 2
			case strings.HasPrefix(src[s.i:], "|&"):
				s.endCommand("|")
				s.i += 2
			default:
				s.endCommand("|")
				s.i++
			}
		case c == ';':
			s.endCommand(";")
			s.i++
			if s.i < len(src) && src[s.i] == ';' { // ;; in case
				s.i++
			}
		case c == '(' && !s.inWord:
			// A subshell, or a case pattern's closing paren being reopened:
			// either way, commands inside are nested.
			s.endCommand(s.op)
			s.stack = append(s.stack, frame{cmd: -1, close: ')'})
			s.i++
		case c == ')' || c == '`' && s.closes('`'):
			s.closeFrame()
		case (c == '$' || c == '<' || c == '>') && s.i+1 < len(src) && src[s.i+1] == '(':
			s.openSubst(c != '$', 2, ')')
		case c == '`':
			s.openSubst(false, 1, '`')
		case c == '<' && strings.HasPrefix(src[s.i:], "<<") && !strings.HasPrefix(src[s.i:], "<<<"):
			s.endWord()
			s.i += 2
			s.readHeredocDelim()
		case c == '<' || c == '>':
			// A redirection: its target is not an argument of the command,
			// nor is the file descriptor number before it (2>&1).
			if s.inWord && s.wordPos < s.i && strings.Trim(s.src[s.wordPos:s.i], "0123456789") == "" {
				s.inWord = false
			}
			s.endWord()
			s.i++
			for s.i < len(src) && (src[s.i] == '>' || src[s.i] == '&' || src[s.i] == '|' || src[s.i] == '<') {
				s.i++
			}
			s.skipRedirectTarget()
		default:
			s.startWord()
			if !s.simple {
				s.word.WriteByte(c)
			}
			s.i++
		}
	}
	s.endCommand("")
	// Substitutions left open at the end still give their command a word.
	for ; len(s.stack) > 0; s.stack = s.stack[:len(s.stack)-1] {
		if top := s.stack[len(s.stack)-1]; top.cmd >= 0 {
			p := s.pending[len(s.pending)-1]
			s.pending = s.pending[:len(s.pending)-1]
			s.cmds[top.cmd].words = append(s.cmds[top.cmd].words, p.text+s.src[p.open:])
		}
	}
}

// closes reports whether the innermost open frame ends with c.
func (s *splitter) closes(c byte) bool {
	return len(s.stack) > 0 && s.stack[len(s.stack)-1].close == c
}

func (s *splitter) openSubst(proc bool, n int, closeBy byte) {
	// The substitution is part of a word of the current command: register
	// the command so that nested commands can name it as their parent, and
	// keep the partial word to resume after the closing.
	s.startWord()
	s.complex()
	s.ensureCommand(s.wordPos)
	s.pending = append(s.pending, pendingWord{text: s.word.String(), pos: s.wordPos, open: s.i})
	s.stack = append(s.stack, frame{cmd: s.cur, close: closeBy, procSubst: proc})
	s.inWord = false
	s.cur = -1
	s.op = ""
	s.i += n
}

// closeFrame ends a subshell or substitution; a stray closing is ignored.
func (s *splitter) closeFrame() {
	c := s.src[s.i]
	if len(s.stack) == 0 || s.stack[len(s.stack)-1].close != c {
		s.complex() // the stray closing is dropped from the word
		s.i++
		return
	}
	top := s.stack[len(s.stack)-1]
	s.endCommand("")
	s.i++
	s.stack = s.stack[:len(s.stack)-1]
	if top.cmd < 0 {
		return
	}
	// Resume the parent command inside the word holding the substitution.
	p := s.pending[len(s.pending)-1]
	s.pending = s.pending[:len(s.pending)-1]
	s.cur = top.cmd
	s.inWord = true
	s.simple = false
	s.wordPos = p.pos
	s.word.Reset()
	s.word.WriteString(p.text)
	s.word.WriteString(s.src[p.open:s.i]) // the substitution as written
}

func (s *splitter) doubleQuote() {
	src := s.src
	s.i++ // opening quote
	for s.i < len(src) {
		c := src[s.i]
		switch c {
		case '"':
			s.i++
			return
		case '\\':
			if s.i+1 < len(src) {
				n := src[s.i+1]
				switch n {
				case '"', '\\', '$', '`':
					s.word.WriteByte(n)
				case '\n':
				default:
					s.word.WriteByte('\\')
					s.word.WriteByte(n)
				}
				s.i += 2
				continue
			}
			s.word.WriteByte(c)
			s.i++
		default:
			s.word.WriteByte(c)
			s.i++
		}
	}
}

// skipRedirectTarget skips the word after a redirection operator.
func (s *splitter) skipRedirectTarget() {
	src := s.src
	for s.i < len(src) && (src[s.i] == ' ' || src[s.i] == '\t') {
		s.i++
	}
	for s.i < len(src) {
		switch c := src[s.i]; c {
		case ' ', '\t', '\n', ';', '&', '|', ')', '(', '<', '>':
			return
		case '\'', '"':
			end := strings.IndexByte(src[s.i+1:], c)
			if end < 0 {
				s.i = len(src)
				return
			}
			s.i += end + 2
		case '\\':
			s.i += 2
		default:
			s.i++
		}
	}
	if s.i > len(src) {
		s.i = len(src)
	}
}

// readHeredocDelim reads the delimiter after << (or <<-); the body is
// skipped at the next newline.
func (s *splitter) readHeredocDelim() {
	src := s.src
	strip := false
	if s.i < len(src) && src[s.i] == '-' {
		strip = true
		s.i++
	}
	for s.i < len(src) && (src[s.i] == ' ' || src[s.i] == '\t') {
		s.i++
	}
	var b strings.Builder
	for s.i < len(src) {
		c := src[s.i]
		if c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == ')' {
			break
		}
		if c == '\'' || c == '"' {
			end := strings.IndexByte(src[s.i+1:], c)
			if end < 0 {
				b.WriteString(src[s.i+1:])
				s.i = len(src)
				break
			}
			b.WriteString(src[s.i+1 : s.i+1+end])
			s.i += end + 2
			continue
		}
		if c == '\\' && s.i+1 < len(src) {
			b.WriteByte(src[s.i+1])
			s.i += 2
			continue
		}
		b.WriteByte(c)
		s.i++
	}
	if b.Len() > 0 {
		s.heredocs = append(s.heredocs, heredocDelim{word: b.String(), strip: strip})
	}
}

// skipHeredocBodies skips the bodies of the here-documents opened on the
// line that just ended.
func (s *splitter) skipHeredocBodies() {
	src := s.src
	for _, h := range s.heredocs {
		for s.i < len(src) {
			line := src[s.i:]
			next := len(src)
			if nl := strings.IndexByte(line, '\n'); nl >= 0 {
				line = line[:nl]
				next = s.i + nl + 1
			}
			s.i = next
			l := strings.TrimRight(line, "\r")
			if h.strip {
				l = strings.TrimLeft(l, "\t")
			}
			if l == h.word {
				break
			}
		}
	}
	s.heredocs = s.heredocs[:0]
}
