package npm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
	"go.yaml.in/yaml/v3"
)

// NewYarn returns the analyzer of yarn.lock: yarn classic's own format
// ("# yarn lockfile v1") and yarn berry's YAML (with __metadata). Both
// map each dependency specifier to the package version it resolved to;
// DependsOn follows the specifiers. Neither records which packages are
// for development, so Dev is not set; berry lists the workspaces'
// dependencies, which are marked Direct. Berry's patch: resolutions are
// reported as the npm version they patch.
func NewYarn() inventory.Analyzer { return yarnLock{} }

type yarnLock struct{}

func (yarnLock) Name() string { return string(inventory.Yarn) }

func (yarnLock) Wants(p string, _ inventory.FileInfo) bool {
	return path.Base(p) == "yarn.lock" && !strings.Contains(p, "node_modules/")
}

func (yarnLock) Analyze(ctx context.Context, f *inventory.File) (*inventory.Result, error) {
	data, err := readAll(f, MaxLockSize)
	if err != nil {
		return nil, err
	}
	g := newGraph(inventory.Yarn, f.Path)
	if isBerry(data) {
		err = yarnBerry(g, data)
	} else {
		err = yarnClassic(g, data)
	}
	if err != nil {
		return nil, err
	}
	return &inventory.Result{Packages: g.Packages()}, nil
}

// isBerry reports whether a yarn.lock is YAML: its first key is __metadata.
func isBerry(data []byte) bool {
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		return bytes.HasPrefix(line, []byte("__metadata:"))
	}
	return false
}

type classicEntry struct {
	line    int
	specs   []string
	version string
	deps    [][2]string // name, range
}

// yarnClassic parses yarn classic's format: unindented entries whose key
// lists the specifiers ("a@^1.0.0", "a@^1.1.0":), with indented fields
// and dependencies: / optionalDependencies: blocks.
func yarnClassic(g *graph, data []byte) error {
	var (
		entries []*classicEntry
		cur     *classicEntry
		block   string // the nested map being read, if any
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case indent == 0:
			if !strings.HasSuffix(trimmed, ":") {
				return fmt.Errorf("line %d: entry key does not end with a colon: %q", n, trimmed)
			}
			specs, err := tokens(strings.TrimSuffix(trimmed, ":"), n)
			if err != nil {
				return err
			}
			cur = &classicEntry{line: n}
			for _, s := range specs {
				if s = strings.TrimSuffix(s, ","); s != "" {
					cur.specs = append(cur.specs, s)
				}
			}
			if len(cur.specs) == 0 {
				return fmt.Errorf("line %d: entry without specifiers", n)
			}
			entries = append(entries, cur)
			block = ""
		case cur == nil:
			return fmt.Errorf("line %d: indented line outside an entry", n)
		case indent == 2:
			block = ""
			if strings.HasSuffix(trimmed, ":") {
				block = strings.TrimSuffix(trimmed, ":")
				continue
			}
			t, err := tokens(trimmed, n)
			if err != nil {
				return err
			}
			if len(t) != 2 {
				return fmt.Errorf("line %d: want a field and a value: %q", n, trimmed)
			}
			if t[0] == "version" {
				cur.version = t[1]
			}
		case indent == 4 && block != "":
			t, err := tokens(trimmed, n)
			if err != nil {
				return err
			}
			if len(t) != 2 {
				return fmt.Errorf("line %d: want a name and a range: %q", n, trimmed)
			}
			if block == "dependencies" || block == "optionalDependencies" {
				cur.deps = append(cur.deps, [2]string{t[0], t[1]})
			}
		default:
			return fmt.Errorf("line %d: unexpected indentation", n)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	bySpec := map[string]string{} // specifier → ID
	for _, e := range entries {
		name, ref, ok := splitSpec(e.specs[0])
		if !ok {
			return fmt.Errorf("line %d: bad specifier %q", e.line, e.specs[0])
		}
		if isLocal(ref) {
			continue
		}
		if real, ok := strings.CutPrefix(ref, "npm:"); ok {
			if rn, _, ok := splitSpec(real); ok {
				name = rn // an alias: report the real package
			}
		}
		if e.version == "" {
			return fmt.Errorf("line %d: entry %s has no version", e.line, e.specs[0])
		}
		id := g.add(name, e.version, false)
		for _, s := range e.specs {
			bySpec[s] = id
		}
	}
	for _, e := range entries {
		from, ok := bySpec[e.specs[0]]
		if !ok {
			continue
		}
		for _, d := range e.deps {
			if to, ok := bySpec[d[0]+"@"+d[1]]; ok {
				g.Dep(from, to)
			}
		}
	}
	return nil
}

// tokens splits a line into bare words and double-quoted strings.
func tokens(s string, line int) ([]string, error) {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, " \t") {
		if s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("line %d: bad quoted string: %s", line, s)
			}
			v, _ := strconv.Unquote(q)
			out = append(out, v)
			s = s[len(q):]
			continue
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out, nil
}

// splitSpec splits a specifier "name@range" ("@scope/name@npm:^1").
func splitSpec(s string) (name, ref string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "@") {
		start = strings.IndexByte(s, '/')
		if start < 0 {
			return "", "", false
		}
	}
	i := strings.IndexByte(s[start:], '@')
	if i < 0 {
		return "", "", false
	}
	return s[:start+i], s[start+i+1:], start+i > 0
}

type berryEntry struct {
	Version              string            `yaml:"version"`
	Resolution           string            `yaml:"resolution"`
	Dependencies         map[string]string `yaml:"dependencies"`
	OptionalDependencies map[string]string `yaml:"optionalDependencies"`
	PeerDependencies     map[string]string `yaml:"peerDependencies"`
}

// yarnBerry parses yarn 2+'s YAML lock file.
func yarnBerry(g *graph, data []byte) error {
	var lock map[string]berryEntry
	if err := yaml.Unmarshal(data, &lock); err != nil {
		return err // "yaml: line 12: ..."
	}
	delete(lock, "__metadata")
	bySpec := map[string]string{}
	var workspaces []berryEntry
	keys := slices.Sorted(maps.Keys(lock))
	for _, key := range keys {
		e := lock[key]
		name, version, ok := berryResolution(e.Resolution, e.Version)
		if strings.Contains(e.Resolution, "@workspace:") {
			workspaces = append(workspaces, e)
			continue
		}
		if !ok {
			continue
		}
		id := g.add(name, version, false)
		for s := range strings.SplitSeq(key, ",") {
			bySpec[strings.TrimSpace(s)] = id
		}
	}
	lookup := func(name, ref string) (string, bool) {
		if id, ok := bySpec[name+"@"+ref]; ok {
			return id, true
		}
		id, ok := bySpec[name+"@npm:"+ref]
		return id, ok
	}
	for _, key := range keys {
		e := lock[key]
		from, ok := bySpec[strings.TrimSpace(strings.Split(key, ",")[0])]
		ws := strings.Contains(e.Resolution, "@workspace:")
		if !ok && !ws {
			continue
		}
		for _, deps := range []map[string]string{e.Dependencies, e.OptionalDependencies} {
			for _, name := range slices.Sorted(maps.Keys(deps)) {
				to, ok := lookup(name, deps[name])
				switch {
				case !ok:
				case ws:
					g.Direct(to)
				default:
					g.Dep(from, to)
				}
			}
		}
	}
	return nil
}

// berryResolution reads the package a berry resolution names:
// "lodash@npm:4.17.21", or "resolve@patch:resolve@npm%3A1.22.1#..." for a
// patched npm package. Local and workspace resolutions name none; other
// protocols (git, tarball URLs) take the entry's version.
func berryResolution(res, version string) (string, string, bool) {
	name, ref, ok := splitSpec(res)
	if !ok || isLocal(ref) {
		return "", "", false
	}
	if inner, ok := strings.CutPrefix(ref, "patch:"); ok {
		inner, _, _ = strings.Cut(inner, "#")
		if u, err := url.PathUnescape(inner); err == nil {
			inner = u
		}
		n, r, ok := splitSpec(inner)
		if !ok || isLocal(r) {
			return "", "", false
		}
		name, ref = n, r
	}
	if v, ok := strings.CutPrefix(ref, "npm:"); ok {
		return name, v, v != ""
	}
	return name, version, version != ""
}
