package dockerfile

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// mount is a RUN --mount flag.
type mount struct{ typ, target, from string }

func parseMounts(flags []string) []mount {
	var ms []mount
	for _, fl := range flags {
		v, ok := strings.CutPrefix(fl, "--mount=")
		if !ok {
			continue
		}
		m := mount{typ: "bind"}
		for field := range strings.SplitSeq(v, ",") {
			k, val, _ := strings.Cut(field, "=")
			switch strings.ToLower(k) {
			case "type":
				m.typ = strings.ToLower(val)
			case "target", "dst", "destination":
				m.target = val
			case "from":
				m.from = val
			}
		}
		ms = append(ms, m)
	}
	return ms
}

// runCmd is a command of a RUN with what the rules need to know.
type runCmd struct {
	sc   *script
	i    int      // index in sc.cmds
	args []string // words without prefixes (sudo, env, VAR=x, if…)
	prog string   // base name of args[0]
	sudo bool
}

func (c *runCmd) at() (int, int) { return c.sc.pos.at(c.sc.cmds[c.i].pos) }

// runCtx is one RUN instruction being judged.
type runCtx struct {
	f      *file
	in     *instr
	mounts []mount
	cmds   []runCmd
}

func (f *file) checkRun(in *instr) {
	r := runCtx{f: f, in: in, mounts: parseMounts(in.node.Flags)}
	for _, m := range r.mounts {
		f.checkStageRef(in, m.from, "--mount from")
	}
	scripts := f.runScripts(in)
	for si := range scripts {
		sc := &scripts[si]
		for i := range sc.cmds {
			args, sudo := effective(sc.cmds[i].words)
			c := runCmd{sc: sc, i: i, args: args, sudo: sudo}
			if len(args) > 0 {
				c.prog = path.Base(args[0])
			}
			r.cmds = append(r.cmds, c)
		}
	}
	for k := range r.cmds {
		r.command(&r.cmds[k])
	}
	for si := range scripts {
		r.pipes(&scripts[si])
	}
}

func (r *runCtx) report(rule string, c *runCmd, msg string) {
	line, col := c.at()
	r.f.report(rule, r.in, line, col, "", msg)
}

// cleans reports whether the RUN removes path (rm of it or of a parent),
// or keeps it out of the layer with a cache or tmpfs mount.
func (r *runCtx) cleans(paths ...string) bool {
	for _, m := range r.mounts {
		if m.typ != "cache" && m.typ != "tmpfs" {
			continue
		}
		t := strings.TrimRight(m.target, "/")
		for _, p := range paths {
			if t != "" && (p == t || strings.HasPrefix(p, t+"/")) {
				return true
			}
		}
	}
	for _, c := range r.cmds {
		if c.prog != "rm" {
			continue
		}
		for _, a := range c.args[1:] {
			for _, p := range paths {
				if strings.HasPrefix(a, p) {
					return true
				}
			}
		}
	}
	return false
}

// runs reports whether the RUN runs prog (one of them) with subcommand sub.
func (r *runCtx) runs(progs []string, sub string) bool {
	for _, c := range r.cmds {
		for _, p := range progs {
			if c.prog == p && len(c.args) > 1 && slicesContains(c.args[1:], sub) {
				return true
			}
		}
	}
	return false
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// command applies the per-command rules.
func (r *runCtx) command(c *runCmd) {
	if c.sudo {
		r.report(RuleSudo, c, fmt.Sprintf("RUN uses sudo (sudo %s)", shorten(c.args)))
	}
	if len(c.args) == 0 {
		return
	}
	cmd := &c.sc.cmds[c.i]
	switch c.prog {
	case "apt-get", "apt", "aptitude":
		r.apt(c)
	case "apk":
		r.apk(c)
	case "yum", "dnf", "microdnf", "zypper":
		r.yum(c)
	case "pip", "pip3":
		r.pip(c, c.args[1:])
	case "npm":
		r.npm(c)
	case "gem":
		r.gem(c)
	case "useradd", "adduser":
		r.useradd(c)
	case "chmod":
		r.chmod(c)
	case "cd":
		// Only a leading `cd dir && …` at the top level: WORKDIR says
		// the same; a cd later in the script or in a subshell does not
		// map to one WORKDIR.
		if c.i == 0 && cmd.depth == 0 && len(c.sc.cmds) > 1 && c.sc.cmds[1].depth == 0 {
			r.report(RuleRunCd, c, fmt.Sprintf("RUN starts with cd %s: use WORKDIR", strings.Join(c.args[1:], " ")))
		}
	case "curl", "wget":
		// bash <(curl …), or eval / sh -c with an unquoted $(curl …).
		if cmd.parent >= 0 {
			p := c.sc.cmds[cmd.parent]
			pargs, _ := effective(p.words)
			if len(pargs) > 0 && (cmd.procSubst && runsCode(pargs) || !cmd.procSubst && codeArg(pargs, "$(") >= 0) {
				r.report(RuleCurlPipeShell, c, fmt.Sprintf("%s runs what %s downloads", path.Base(pargs[0]), c.prog))
			}
		}
	default:
		if pipVersion(c.prog) {
			r.pip(c, c.args[1:])
		} else if strings.HasPrefix(c.prog, "python") && len(c.args) > 2 && c.args[1] == "-m" && c.args[2] == "pip" {
			r.pip(c, c.args[3:])
		}
	}
	// sh -c "$(curl …)", eval "$(wget -qO- …)"
	if i := codeArg(c.args, ""); i > 0 {
		for _, p := range [...]string{"$(curl", "$(wget", "`curl", "`wget"} {
			if strings.HasPrefix(c.args[i], p) {
				r.report(RuleCurlPipeShell, c, fmt.Sprintf("%s runs what %s downloads", c.prog, strings.TrimLeft(p, "$(`")))
			}
		}
	}
}

// codeArg returns the index of the argument a command runs as code, or -1:
// eval's first argument, or the one after -c (sh -c, python -c) or -e
// (perl, ruby, node). With prefix set, only an argument starting with it.
func codeArg(args []string, prefix string) int {
	if len(args) < 2 {
		return -1
	}
	p := path.Base(args[0])
	if p == "eval" {
		if strings.HasPrefix(args[1], prefix) {
			return 1
		}
		return -1
	}
	if !runsCode(args) {
		return -1
	}
	for i := 1; i+1 < len(args); i++ {
		o := args[i]
		if len(o) > 1 && o[0] == '-' && o[1] != '-' && (strings.HasSuffix(o, "c") || o == "-e") {
			if strings.HasPrefix(args[i+1], prefix) {
				return i + 1
			}
			return -1
		}
	}
	return -1
}

// runsCode reports whether a command executes code given to it: a shell,
// an interpreter reading a script, eval or source.
func runsCode(args []string) bool {
	p := path.Base(args[0])
	switch p {
	case "eval", "source", ".", "python", "python3", "perl", "ruby", "node":
		return true
	}
	return isShell(p)
}

// pipes finds downloads piped into a shell: curl … | sh, wget -O- … | sudo bash.
func (r *runCtx) pipes(sc *script) {
	cmds := sc.cmds
	for j := range cmds {
		if cmds[j].op != "|" {
			continue
		}
		args, _ := effective(cmds[j].words)
		if len(args) == 0 || !runsCode(args) || path.Base(args[0]) == "eval" {
			continue
		}
		// Walk back through the pipeline, skipping nested commands.
		for k, cur := j-1, j; k >= 0; k-- {
			if cmds[k].depth > cmds[cur].depth {
				continue
			}
			if cmds[k].depth < cmds[cur].depth {
				break
			}
			a, _ := effective(cmds[k].words)
			if len(a) > 0 && (path.Base(a[0]) == "curl" || path.Base(a[0]) == "wget") {
				line, col := sc.pos.at(cmds[k].pos)
				r.f.report(RuleCurlPipeShell, r.in, line, col, "", fmt.Sprintf("%s output is piped into %s", path.Base(a[0]), path.Base(args[0])))
				break
			}
			if cmds[k].op != "|" {
				break
			}
			cur = k
		}
	}
}

// effective strips what runs a command without being it: variable
// assignments, sudo, env, exec, nice, nohup, time and shell keywords
// (if, then, do, !, {). It reports whether sudo was among them.
func effective(words []string) ([]string, bool) {
	sudo := false
	for len(words) > 0 {
		w := words[0]
		switch {
		case isAssignment(w):
			words = words[1:]
		case w == "sudo" || w == "doas":
			sudo = true
			words = skipOptions(words[1:], "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U")
		case w == "env":
			words = skipOptions(words[1:], "-u", "-C", "-S")
		case w == "nice":
			words = skipOptions(words[1:], "-n")
		case w == "exec", w == "command", w == "nohup", w == "time", w == "if", w == "then", w == "else",
			w == "elif", w == "do", w == "while", w == "until", w == "!", w == "{", w == "}":
			words = words[1:]
		default:
			return words, sudo
		}
	}
	return words, sudo
}

func isAssignment(w string) bool {
	i := strings.IndexByte(w, '=')
	if i <= 0 {
		return false
	}
	for j := 0; j < i; j++ {
		c := w[j]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// skipOptions drops leading options; those named in valued take the next
// word as their value.
func skipOptions(words []string, valued ...string) []string {
	for len(words) > 0 && strings.HasPrefix(words[0], "-") {
		o := words[0]
		words = words[1:]
		if o == "--" {
			break
		}
		if slicesContains(valued, o) && len(words) > 0 {
			words = words[1:]
		}
	}
	return words
}

// operands splits a command's arguments into options and operands; the
// options in valued take the next word as their value (also kept).
func operands(args []string, valued ...string) (opts, ops []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return opts, append(ops, args[i+1:]...)
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			opts = append(opts, a)
			if slicesContains(valued, a) && i+1 < len(args) {
				i++
				opts = append(opts, args[i])
			}
			continue
		}
		ops = append(ops, a)
	}
	return opts, ops
}

func hasOpt(opts []string, names ...string) bool {
	for _, o := range opts {
		for _, n := range names {
			if o == n || strings.HasPrefix(o, n+"=") {
				return true
			}
		}
	}
	return false
}

// shortFlag reports whether a combined short-option word (-yq) holds c.
func shortFlag(opts []string, c byte) bool {
	for _, o := range opts {
		if len(o) > 1 && o[0] == '-' && o[1] != '-' && strings.IndexByte(o[1:], c) >= 0 {
			return true
		}
	}
	return false
}

func shorten(args []string) string {
	s := strings.Join(args, " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

func isLiteral(w string) bool { return !strings.ContainsAny(w, "$`") }

func (r *runCtx) apt(c *runCmd) {
	opts, ops := operands(c.args[1:], "-o", "-c", "-t", "--option", "--config-file", "--target-release", "--default-release")
	if len(ops) == 0 {
		return
	}
	switch ops[0] {
	case "upgrade", "dist-upgrade", "full-upgrade", "safe-upgrade":
		r.report(RulePkgUpgrade, c, fmt.Sprintf("%s %s upgrades every package of the base image", c.prog, ops[0]))
	case "install":
		if !hasOpt(opts, "--no-install-recommends") && !aptNoRecommends(opts) {
			r.report(RuleAptRecommends, c, fmt.Sprintf("%s install without --no-install-recommends", c.prog))
		}
		if !r.cleans("/var/lib/apt/lists") {
			r.report(RuleAptLists, c, fmt.Sprintf("%s install without rm -rf /var/lib/apt/lists/* in the same RUN", c.prog))
		}
		var unpinned []string
		for _, p := range ops[1:] {
			if isLiteral(p) && !strings.Contains(p, "=") && !strings.HasSuffix(p, ".deb") && !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, ".") {
				unpinned = append(unpinned, p)
			}
		}
		r.unpinned(c, unpinned)
	}
}

func aptNoRecommends(opts []string) bool {
	for _, o := range opts {
		l := strings.ToLower(o)
		if strings.HasPrefix(l, "apt::install-recommends=") {
			v := l[len("apt::install-recommends="):]
			return v == "false" || v == "0" || v == "no"
		}
	}
	return false
}

func (r *runCtx) unpinned(c *runCmd, pkgs []string) {
	if len(pkgs) == 0 {
		return
	}
	r.report(RulePkgUnpinned, c, fmt.Sprintf("%s installs without a version pin: %s", c.prog, shorten(pkgs)))
}

func (r *runCtx) apk(c *runCmd) {
	opts, ops := operands(c.args[1:], "-X", "--repository", "-t", "--virtual", "-p", "--root", "--arch", "--repositories-file", "--keys-dir", "--cache-dir")
	if len(ops) == 0 {
		return
	}
	switch ops[0] {
	case "upgrade":
		if len(ops) == 1 {
			r.report(RulePkgUpgrade, c, "apk upgrade upgrades every package of the base image")
		}
	case "add":
		if !hasOpt(opts, "--no-cache") && !r.cleans("/var/cache/apk") {
			r.report(RuleApkNoCache, c, "apk add without --no-cache")
		}
		var unpinned []string
		for _, p := range ops[1:] {
			if isLiteral(p) && !strings.ContainsAny(p, "=<>~") && !strings.HasSuffix(p, ".apk") && !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, ".") {
				unpinned = append(unpinned, p)
			}
		}
		r.unpinned(c, unpinned)
	}
}

func (r *runCtx) yum(c *runCmd) {
	_, ops := operands(c.args[1:], "-c", "--config", "--installroot", "--releasever", "--setopt", "--enablerepo", "--disablerepo", "-R", "--repo", "--repofrompath", "--exclude", "-x", "--root")
	if len(ops) == 0 {
		return
	}
	switch ops[0] {
	case "update", "upgrade", "distro-sync", "upgrade-minimal", "up", "dist-upgrade", "dup":
		if len(ops) == 1 {
			r.report(RulePkgUpgrade, c, fmt.Sprintf("%s %s upgrades every package of the base image", c.prog, ops[0]))
		}
	case "install", "in":
		caches := []string{"/var/cache/yum", "/var/cache/dnf", "/var/cache/libdnf5", "/var/cache/zypp"}
		clean := r.runs([]string{"yum", "dnf", "microdnf", "zypper"}, "clean") || r.runs([]string{"zypper"}, "cc")
		if !clean && !r.cleans(caches...) {
			r.report(RuleYumClean, c, fmt.Sprintf("%s install without %s clean in the same RUN", c.prog, c.prog))
		}
	}
}

func (r *runCtx) pip(c *runCmd, args []string) {
	opts, ops := operands(args, "-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url",
		"-f", "--find-links", "-t", "--target", "--prefix", "--root", "--trusted-host", "-e", "--editable", "--src",
		"--platform", "--python-version", "--implementation", "--abi", "--upgrade-strategy", "--progress-bar",
		"--report", "--cert", "--client-cert", "--proxy", "--retries", "--timeout", "--log", "-C", "--config-settings",
		"--global-option", "--no-binary", "--only-binary")
	if len(ops) == 0 || ops[0] != "install" {
		return
	}
	if !hasOpt(opts, "--no-cache-dir") && !r.in.stage.noCache && !r.pipCacheMount() {
		r.report(RulePipNoCache, c, "pip install without --no-cache-dir")
	}
	var unpinned []string
	for _, p := range ops[1:] {
		name := strings.ToLower(p)
		if !isLiteral(p) || strings.ContainsAny(p, "=<>~!@/:") || strings.HasPrefix(p, ".") ||
			strings.HasSuffix(name, ".whl") || strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".zip") {
			continue
		}
		switch name {
		case "pip", "setuptools", "wheel": // the installer's own tooling
			continue
		}
		unpinned = append(unpinned, p)
	}
	r.unpinned(c, unpinned)
}

func (r *runCtx) pipCacheMount() bool {
	for _, m := range r.mounts {
		if m.typ == "cache" && (strings.Contains(m.target, "pip") || strings.HasSuffix(strings.TrimRight(m.target, "/"), ".cache")) {
			return true
		}
	}
	return false
}

func pipVersion(prog string) bool {
	v, ok := strings.CutPrefix(prog, "pip")
	if !ok || v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if (v[i] < '0' || v[i] > '9') && v[i] != '.' {
			return false
		}
	}
	return true
}

func (r *runCtx) npm(c *runCmd) {
	opts, ops := operands(c.args[1:], "--prefix", "--registry", "--cache", "-w", "--workspace")
	if len(ops) == 0 {
		return
	}
	switch ops[0] {
	case "install", "i", "add", "isntall", "in":
	default:
		return
	}
	global := hasOpt(opts, "-g", "--global") || hasOpt(opts, "--location=global")
	if len(ops) == 1 && !global {
		r.report(RuleNpmInstall, c, fmt.Sprintf("npm %s installs from package.json ranges: use npm ci", ops[0]))
		return
	}
	if !global {
		return
	}
	var unpinned []string
	for _, p := range ops[1:] {
		if !isLiteral(p) {
			continue
		}
		if strings.HasPrefix(p, "@") {
			if strings.Count(p, "@") < 2 {
				unpinned = append(unpinned, p)
			}
			continue
		}
		if strings.ContainsAny(p, "/:") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".tgz") {
			continue
		}
		if !strings.Contains(p, "@") {
			unpinned = append(unpinned, p)
		}
	}
	r.unpinned(c, unpinned)
}

func (r *runCtx) gem(c *runCmd) {
	opts, ops := operands(c.args[1:], "-v", "--version", "-i", "--install-dir", "-n", "--bindir", "-s", "--source", "--platform")
	if len(ops) == 0 || ops[0] != "install" || hasOpt(opts, "-v", "--version") {
		return
	}
	var unpinned []string
	for _, p := range ops[1:] {
		if isLiteral(p) && !strings.Contains(p, ":") && !strings.HasSuffix(p, ".gem") && !strings.HasPrefix(p, ".") && !strings.HasPrefix(p, "/") {
			unpinned = append(unpinned, p)
		}
	}
	r.unpinned(c, unpinned)
}

// useradd: a UID from 100000 without -l makes huge sparse lastlog files.
func (r *runCtx) useradd(c *runCmd) {
	if c.prog != "useradd" {
		return
	}
	args := c.args[1:]
	if hasOpt(args, "--no-log-init") || shortFlag(args, 'l') {
		return
	}
	for i, a := range args {
		var v string
		switch {
		case (a == "-u" || a == "--uid") && i+1 < len(args):
			v = args[i+1]
		case strings.HasPrefix(a, "--uid="):
			v = a[len("--uid="):]
		case strings.HasPrefix(a, "-u") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			v = a[2:]
		default:
			continue
		}
		if uid, err := strconv.ParseUint(v, 10, 64); err == nil && uid >= 100000 {
			r.report(RuleUseraddLog, c, fmt.Sprintf("useradd -u %d without -l (--no-log-init)", uid))
			return
		}
	}
}

// chmod: a mode that gives others write permission, without the sticky bit.
func (r *runCtx) chmod(c *runCmd) {
	_, ops := operands(c.args[1:], "--reference")
	if len(ops) < 2 {
		return
	}
	if worldWritable(ops[0]) {
		r.report(RuleChmodWorld, c, fmt.Sprintf("chmod %s makes %s world-writable", ops[0], shorten(ops[1:])))
	}
}

func worldWritable(mode string) bool {
	if mode == "" {
		return false
	}
	if mode[0] >= '0' && mode[0] <= '7' {
		m, err := strconv.ParseUint(mode, 8, 32)
		if err != nil {
			return false
		}
		return m&0o002 != 0 && m&0o1000 == 0
	}
	// Symbolic: [ugoa]*[+=][rwxXst]*, comma-separated clauses.
	for clause := range strings.SplitSeq(mode, ",") {
		i := strings.IndexAny(clause, "+=-")
		if i < 0 {
			continue
		}
		who, op, perms := clause[:i], clause[i], clause[i+1:]
		if op == '-' || !strings.ContainsAny(who, "ao") || !strings.Contains(perms, "w") || strings.Contains(perms, "t") {
			continue
		}
		return true
	}
	return false
}
