package dockerfile

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/moby/buildkit/frontend/dockerfile/command"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// check runs every rule over the parsed file.
func (f *file) check() {
	env := f.globalArgs()
	lex := shell.NewLex(f.escape)
	for _, in := range f.globals {
		f.checkAssign(in)
	}
	for _, s := range f.stages {
		f.checkFrom(s, env, lex)
		if s.base != nil {
			s.noCache = s.base.noCache
		}
		var cmds, entrypoints []*instr
		for _, in := range s.instrs {
			switch in.cmd {
			case command.Run:
				f.checkRun(in)
			case command.Add, command.Copy:
				f.checkCopy(in)
			case command.Env, command.Arg, command.Label:
				f.checkAssign(in)
			case command.Expose:
				f.checkExpose(in)
			case command.Workdir:
				f.checkWorkdir(in)
			case command.Maintainer:
				f.reportAt(RuleMaintainer, in, "MAINTAINER is deprecated; use LABEL org.opencontainers.image.authors")
			case command.Shell:
				args := in.args()
				s.posix = len(args) > 0 && isShell(path.Base(args[0]))
			case command.Cmd:
				cmds = append(cmds, in)
			case command.Entrypoint:
				entrypoints = append(entrypoints, in)
			}
		}
		f.checkMultiple(cmds)
		f.checkMultiple(entrypoints)
		if s.index == len(f.stages)-1 {
			var ep *instr
			if len(entrypoints) > 0 {
				ep = entrypoints[len(entrypoints)-1]
				f.checkShellForm(ep, nil)
			}
			if len(cmds) > 0 {
				f.checkShellForm(cmds[len(cmds)-1], ep)
			}
			f.checkFinal(s)
		}
	}
}

// argEnv holds the ARG defaults declared before the first FROM, the only
// variables FROM can use.
type argEnv map[string]string

func (e argEnv) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }

func (e argEnv) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	return keys
}

func (f *file) globalArgs() argEnv {
	env := argEnv{}
	for _, in := range f.globals {
		for _, a := range in.args() {
			if k, v, ok := strings.Cut(a, "="); ok {
				env[k] = unquote(v)
			} else {
				delete(env, a) // declared without a default: unknown
			}
		}
	}
	return env
}

func (f *file) stageByName(name string) *stage {
	name = strings.ToLower(name)
	for _, s := range f.stages {
		if s.lname != "" && s.lname == name {
			return s
		}
	}
	return nil
}

// checkFrom judges a stage's base: a reference to an earlier stage, or an
// image whose tag and digest are judged after expanding ARG defaults. A
// base that uses an ARG without a default is not judged: it depends on
// --build-arg.
func (f *file) checkFrom(s *stage, env argEnv, lex *shell.Lex) {
	in := s.from
	args := in.args()
	if len(args) == 0 {
		return
	}
	if p, ok := in.flag("platform"); ok && p != "" && !strings.Contains(p, "$") {
		f.reportAt(RulePlatformHardcoded, in, fmt.Sprintf("FROM --platform=%s fixes the platform of stage %s", p, s.display()))
	}
	raw := args[0]
	if prev := f.stageByName(raw); prev != nil {
		if prev.index < s.index {
			s.base = prev
			return
		}
		f.reportAt(RuleStageUndefined, in, fmt.Sprintf("FROM %s names stage %s, defined later (line %d): FROM can only use earlier stages, so BuildKit pulls an image named %s instead", raw, prev.name, prev.from.line, raw))
	}
	image := raw
	if strings.Contains(raw, "$") {
		res, err := lex.ProcessWordWithMatches(raw, env)
		if err != nil || len(res.Unmatched) > 0 {
			return
		}
		image = res.Result
		if prev := f.stageByName(image); prev != nil && prev.index < s.index {
			s.base = prev
			return
		}
	}
	s.image = image
	if strings.EqualFold(image, "scratch") || image == "" {
		return
	}
	shown := raw
	if image != raw {
		shown = raw + " (" + image + ")"
	}
	_, tag, digest := splitRef(image)
	switch {
	case digest != "":
	case tag == "" || tag == "latest":
		what := "has no tag"
		if tag != "" {
			what = "uses the latest tag"
		}
		f.reportAt(RuleBaseLatest, in, fmt.Sprintf("base image %s of %s %s", shown, s.display(), what))
	default:
		f.reportAt(RuleBaseUnpinned, in, fmt.Sprintf("base image %s of %s is not pinned by digest", shown, s.display()))
	}
}

// splitRef splits an image reference into name, tag and digest.
func splitRef(ref string) (name, tag, digest string) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	if c := strings.LastIndexByte(ref, ':'); c > strings.LastIndexByte(ref, '/') {
		return ref[:c], ref[c+1:], digest
	}
	return ref, "", digest
}

// checkStageRef judges a --from (COPY) or from= (RUN --mount) reference.
func (f *file) checkStageRef(in *instr, from, what string) {
	if from == "" || strings.Contains(from, "$") {
		return
	}
	cur := in.stage.index
	if n, err := strconv.Atoi(from); err == nil {
		if n < 0 || n >= cur {
			f.reportAt(RuleStageUndefined, in, fmt.Sprintf("%s=%s: no earlier stage has index %d", what, from, n))
		}
		return
	}
	if f.stageByName(from) != nil || strings.ContainsAny(from, "/:.") {
		return
	}
	f.reportAt(RuleStageUndefined, in, fmt.Sprintf("%s=%s: no stage is named %s, so BuildKit pulls the image docker.io/library/%s:latest", what, from, from, from))
}

func (f *file) checkCopy(in *instr) {
	if from, ok := in.flag("from"); ok {
		f.checkStageRef(in, from, "--from")
		return
	}
	args := in.args()
	if len(args) < 2 {
		return
	}
	srcs := args[:len(args)-1]
	for _, src := range srcs {
		switch strings.TrimSuffix(src, "*") {
		case ".", "./", "":
			if !f.hasIgnore {
				f.reportAt(RuleCopyContext, in, fmt.Sprintf("%s %s copies the whole build context and there is no .dockerignore", strings.ToUpper(in.cmd), src))
			}
		}
	}
	if in.cmd != command.Add {
		return
	}
	_, checksum := in.flag("checksum")
	local := true
	for _, src := range srcs {
		switch {
		case isRemote(src):
			local = false
			if !checksum {
				f.reportAt(RuleAddURL, in, fmt.Sprintf("ADD %s downloads without --checksum", src))
			}
		case strings.Contains(src, "$") || isArchive(src):
			local = false
		}
	}
	if local {
		f.reportAt(RuleAddLocal, in, fmt.Sprintf("ADD %s copies local files: use COPY", strings.Join(srcs, " ")))
	}
}

func isRemote(src string) bool {
	l := strings.ToLower(src)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "git@") || strings.HasPrefix(l, "git://")
}

func isArchive(src string) bool {
	l := strings.ToLower(src)
	for _, ext := range [...]string{".tar", ".tgz", ".tbz", ".tbz2", ".txz", ".tzst", ".gz", ".bz2", ".xz", ".zst", ".lz", ".lzma"} {
		if strings.HasSuffix(l, ext) {
			return true
		}
	}
	return false
}

// checkAssign judges the values set by ENV, ARG and LABEL.
func (f *file) checkAssign(in *instr) {
	for _, kv := range assignments(in) {
		if kv.value == "" {
			continue
		}
		sub := "." + kv.key
		if in.cmd == command.Env && kv.key == "PIP_NO_CACHE_DIR" && in.stage != nil {
			in.stage.noCache = true
		}
		if f.l.opts.Secret != nil {
			if title, redacted, ok := f.l.opts.Secret(kv.key, kv.value); ok {
				if fd := f.report(RuleSecretValue, in, in.line, in.col, sub, fmt.Sprintf("%s %s holds a credential (%s)", strings.ToUpper(in.cmd), kv.key, title)); fd != nil {
					fd.Secret = &finding.Secret{Redacted: redacted}
				}
				continue
			}
		}
		if in.cmd == command.Label || !secretName(kv.key) || isBool(kv.value) {
			continue
		}
		msg := fmt.Sprintf("%s %s has a value, recorded in the image history", strings.ToUpper(in.cmd), kv.key)
		if in.cmd == command.Env && strings.HasPrefix(kv.value, "$") {
			msg = fmt.Sprintf("ENV %s copies a build argument into the image configuration", kv.key)
		} else if in.cmd == command.Arg {
			msg = fmt.Sprintf("ARG %s has a default value, recorded in the image history", kv.key)
		}
		f.report(RuleSecretName, in, in.line, in.col, sub, msg)
	}
}

type keyValue struct{ key, value string }

// assignments returns the keys and values an ENV, ARG or LABEL sets.
func assignments(in *instr) []keyValue {
	var kvs []keyValue
	if in.cmd == command.Arg {
		for _, a := range in.args() {
			if k, v, ok := strings.Cut(a, "="); ok {
				kvs = append(kvs, keyValue{k, unquote(v)})
			}
		}
		return kvs
	}
	// ENV and LABEL: key, value, separator, repeated.
	for n := in.node.Next; n != nil && n.Next != nil; {
		kvs = append(kvs, keyValue{unquote(n.Value), unquote(n.Next.Value)})
		if n.Next.Next == nil {
			break
		}
		n = n.Next.Next.Next
	}
	return kvs
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func isBool(v string) bool {
	switch strings.ToLower(v) {
	case "true", "false", "yes", "no", "on", "off", "0", "1":
		return true
	}
	return false
}

// secretName reports whether an ENV or ARG name says it holds a secret.
func secretName(key string) bool {
	toks := nameTokens(key)
	if len(toks) == 0 {
		return false
	}
	switch toks[len(toks)-1] {
	case "FILE", "PATH", "DIR", "URL", "URI", "HOST", "PORT", "NAME", "USER", "USERNAME", "ID", "TYPE",
		"LENGTH", "TTL", "VERSION", "ENABLED", "REQUIRED", "HEADER", "FORMAT", "ENDPOINT", "EXPIRY",
		"EXPIRES", "TIMEOUT", "MODE", "METHOD", "POLICY", "ALGORITHM", "REGION", "FIELD", "PREFIX":
		return false
	}
	for i, t := range toks {
		switch t {
		case "TOKEN", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "APIKEY", "CREDENTIAL", "CREDENTIALS", "PASSPHRASE":
			return true
		case "KEY":
			if i > 0 {
				switch toks[i-1] {
				case "API", "PRIVATE", "ACCESS", "SECRET", "SIGNING", "ENCRYPTION", "MASTER", "AUTH", "CLIENT":
					return true
				}
			}
		}
	}
	return false
}

// nameTokens splits NPM_TOKEN, npm-token and npmToken into upper-case words.
func nameTokens(key string) []string {
	var toks []string
	start := 0
	flush := func(end int) {
		if end > start {
			toks = append(toks, strings.ToUpper(key[start:end]))
		}
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '_' || c == '-' || c == '.':
			flush(i)
			start = i + 1
		case c >= 'A' && c <= 'Z' && i > start && key[i-1] >= 'a' && key[i-1] <= 'z':
			flush(i)
			start = i
		}
	}
	flush(len(key))
	return toks
}

func (f *file) checkExpose(in *instr) {
	for _, p := range in.args() {
		port, proto, _ := strings.Cut(p, "/")
		if proto != "" && !strings.EqualFold(proto, "tcp") {
			continue
		}
		lo, hi, isRange := strings.Cut(port, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 == nil && err2 == nil && a <= 22 && 22 <= b {
			f.reportAt(RuleExposeSSH, in, fmt.Sprintf("EXPOSE %s exposes the SSH port", p))
			return
		}
	}
}

func (f *file) checkWorkdir(in *instr) {
	args := in.args()
	if len(args) == 0 {
		return
	}
	d := unquote(args[0])
	if d == "" || d[0] == '/' || d[0] == '$' || d[0] == '\\' || len(d) >= 2 && d[1] == ':' {
		return // absolute, Windows drive, or from a variable
	}
	f.reportAt(RuleWorkdirRelative, in, fmt.Sprintf("WORKDIR %s is relative", d))
}

// checkMultiple reports every CMD (or ENTRYPOINT) of a stage but the last.
func (f *file) checkMultiple(list []*instr) {
	if len(list) < 2 {
		return
	}
	last := list[len(list)-1]
	for _, in := range list[:len(list)-1] {
		f.reportAt(RuleMultipleCmd, in, fmt.Sprintf("%s in %s has no effect: %s at line %d replaces it", strings.ToUpper(in.cmd), in.stage.display(), strings.ToUpper(last.cmd), last.line))
	}
}

// checkShellForm judges the effective ENTRYPOINT, or CMD given the
// stage's ENTRYPOINT ep (nil when none).
func (f *file) checkShellForm(in, ep *instr) {
	if in.isJSON() || in.node.Next == nil {
		return
	}
	msg := fmt.Sprintf("%s of the final stage is in shell form: PID 1 is /bin/sh, which does not forward signals", strings.ToUpper(in.cmd))
	if ep != nil && ep.isJSON() {
		msg = fmt.Sprintf("CMD of the final stage is in shell form: ENTRYPOINT (line %d) receives /bin/sh -c and the command as its arguments", ep.line)
	}
	f.reportAt(RuleShellFormEntrypoint, in, msg)
}

// checkFinal judges what the shipped image lacks: a non-root USER and a
// HEALTHCHECK, looking through base stages of the same file. Absence is
// reported at the final FROM, where an ignore comment can suppress it.
func (f *file) checkFinal(s *stage) {
	from := s.from
	var user, health *instr
	for st := s; st != nil && (user == nil || health == nil); st = st.base {
		for i := len(st.instrs) - 1; i >= 0; i-- {
			in := st.instrs[i]
			if in.cmd == command.User && user == nil {
				user = in
			}
			if in.cmd == command.Healthcheck && health == nil {
				health = in
			}
		}
	}
	switch {
	case user == nil:
		f.reportAt(RuleUserRoot, from, fmt.Sprintf("the final stage (%s) sets no USER: the image runs as root", s.display()))
	case isRootUser(user.args()):
		msg := fmt.Sprintf("the final stage (%s) runs as root (USER %s)", s.display(), strings.Join(user.args(), " "))
		if user.stage != s {
			msg += fmt.Sprintf(", set in stage %s", user.stage.display())
		}
		f.reportAt(RuleUserRoot, user, msg)
	}
	if health == nil {
		f.reportAt(RuleNoHealthcheck, from, fmt.Sprintf("the final stage (%s) has no HEALTHCHECK", s.display()))
	}
}

func isRootUser(args []string) bool {
	if len(args) == 0 {
		return false
	}
	u, _, _ := strings.Cut(unquote(args[0]), ":")
	return u == "root" || u == "0"
}
