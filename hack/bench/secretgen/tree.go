package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Options says what tree to generate.
type Options struct {
	Dir     string // where to write; missing or empty
	Seed    int64
	Files   int   // number of files
	Size    int64 // total bytes, roughly
	Secrets int   // number of secrets to plant, roughly (a kubeconfig holds two)
}

// Truth is what was planted, written to planted.json. It never holds a
// secret's value, only its first four characters and its length.
type Truth struct {
	Seed  int64  `json:"seed"`
	Root  string `json:"root"` // the tree as generated (absolute)
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
	// Skipped are files scanners skip by default (lock files): they are
	// in Bytes but not scanned.
	Skipped Skipped   `json:"skipped"`
	Planted []Planted `json:"planted"`
	// Decoys are lines holding placeholders and noise a scanner should
	// not report.
	Decoys []Decoy `json:"decoys"`
}

// Skipped counts files a scanner skips by default.
type Skipped struct {
	Reason string `json:"reason"`
	Files  int    `json:"files"`
	Bytes  int64  `json:"bytes"`
}

// Planted is one planted secret. Line is where its value starts; Start and
// End are the 1-based lines of the credential with its context (both
// parts of a key pair, every line of a PEM block).
type Planted struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Start  int    `json:"start"`
	End    int    `json:"end"`
	Kind   string `json:"kind"`
	Prefix string `json:"prefix"`
	Length int    `json:"length"`
	// Column is the value's 1-based byte column, given on the very long
	// lines of minified bundles only, where a line holds many values.
	Column int `json:"column,omitempty"`
}

// Decoy is a line a scanner should not report.
type Decoy struct {
	File  string `json:"file"`
	Line  int    `json:"line"`
	End   int    `json:"end"`
	Class string `json:"class"`
	// Column is set on minified bundles' long lines, as for Planted.
	Column int `json:"column,omitempty"`
}

// TruthPath is where Generate writes the truth for a tree in dir: beside
// it, so that scanners of the tree do not read it.
func TruthPath(dir string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(dir)), "planted.json")
}

// fileSpec is one file to write.
type fileSpec struct {
	path    string
	lang    lang
	size    int64
	inserts []insert
	whole   *snippet // carrier files: the whole content
}

type insert struct {
	at int64 // byte offset in the body where the snippet goes
	sn snippet
}

// record is a written mark with its place in the tree: what tests check
// against the files.
type record struct {
	file string
	mark
}

// typical size and path of generic files by language; lang order is the
// order files are planned in, so it is part of the output's definition.
var generic = []struct {
	lang   lang
	share  float64 // of generic files
	median float64 // bytes
	capped bool    // size does not grow with the budget
}{
	{langGo, 0.18, 7000, false}, {langPy, 0.13, 6000, false}, {langJS, 0.10, 6000, false}, {langTS, 0.12, 5000, false},
	{langJava, 0.10, 8000, false}, {langYAML, 0.07, 2000, false}, {langJSON, 0.06, 3000, false}, {langK8s, 0.08, 4000, false},
	{langTF, 0.04, 3000, false}, {langEnv, 0.02, 400, true}, {langDocker, 0.02, 900, true}, {langShell, 0.03, 2500, true},
	{langMD, 0.05, 5000, false},
}

// Generate writes the tree and its truth.
func Generate(o Options) (*Truth, error) {
	t, _, err := generate(o)
	return t, err
}

func generate(o Options) (*Truth, []record, error) {
	if o.Files < 100 {
		return nil, nil, fmt.Errorf("-files %d: want at least 100", o.Files)
	}
	if o.Size < int64(o.Files)*200 {
		return nil, nil, fmt.Errorf("-size %d: want at least 200 bytes a file (%d)", o.Size, int64(o.Files)*200)
	}
	if o.Secrets < 1 || o.Secrets > o.Files {
		return nil, nil, fmt.Errorf("-secrets %d: want between 1 and the number of files", o.Secrets)
	}
	if err := emptyDir(o.Dir); err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, nil, err
	}
	r := rand.New(rand.NewPCG(uint64(o.Seed), 0x5ec7e75ec7e7))
	p := newPlan(r, o)
	p.plant(o.Secrets)
	p.topUp(o.Files)
	p.decoy(o.Secrets * 5 / 2)

	t := &Truth{Seed: o.Seed, Root: abs, Files: len(p.files), Skipped: Skipped{Reason: "lock files (package-lock.json)"}}
	var recs []record
	for _, f := range p.files {
		n, fr, err := writeFile(r, o.Dir, f)
		if err != nil {
			return nil, nil, err
		}
		t.Bytes += n
		if f.lang == langLock {
			t.Skipped.Files++
			t.Skipped.Bytes += n
		}
		recs = append(recs, fr...)
	}
	for _, rc := range recs {
		if rc.decoy {
			t.Decoys = append(t.Decoys, Decoy{File: rc.file, Line: rc.line, End: rc.end, Class: rc.kind, Column: rc.col})
			continue
		}
		t.Planted = append(t.Planted, Planted{File: rc.file, Line: rc.line, Start: rc.start, End: rc.end, Kind: rc.kind,
			Prefix: rc.value[:4], Length: len(rc.value), Column: rc.col})
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(TruthPath(o.Dir), append(b, '\n'), 0o644); err != nil {
		return nil, nil, err
	}
	return t, recs, nil
}

func emptyDir(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%s is not empty: the tree must be written into a new directory", dir)
		}
		return fmt.Errorf("read %s: %w", dir, err)
	}
	return nil
}

type plan struct {
	r      *rand.Rand
	files  []*fileSpec
	byLang map[lang][]*fileSpec
	paths  map[string]bool
	svcs   []string // backend services
	apps   []string // web apps
	seen   map[string]bool
}

func newPlan(r *rand.Rand, o Options) *plan {
	p := &plan{r: r, byLang: map[lang][]*fileSpec{}, paths: map[string]bool{}, seen: map[string]bool{}}
	p.svcs = append([]string(nil), svcNames...)
	for i, s := range []string{"storefront", "admin", "checkout-ui", "docs-site", "partner-portal", "status-page", "mobile-web", "ops-console"} {
		if i < max(1, o.Files/700) {
			p.apps = append(p.apps, s)
		}
	}
	big := o.Files >= 500
	count := func(n int) int {
		if big {
			return n
		}
		return 1
	}
	// Large files: logs, CSV exports, bundles with very long lines, lock
	// files; the rest of the budget goes to ordinary sources and configs.
	bigSpecs := []struct {
		lang  lang
		n     int
		share float64
	}{{langLog, count(5), 0.25}, {langCSV, count(3), 0.08}, {langBundle, count(8), 0.10}, {langLock, len(p.apps), 0.04}}
	var used int64
	for _, b := range bigSpecs {
		each := int64(float64(o.Size) * b.share / float64(b.n))
		for i := range b.n {
			sz := each * int64(80+r.IntN(41)) / 100
			if b.lang == langLock {
				p.add(&fileSpec{path: "web/" + p.apps[i] + "/package-lock.json", lang: langLock, size: sz})
			} else {
				p.add(&fileSpec{path: p.pathFor(b.lang), lang: b.lang, size: sz})
			}
			used += sz
		}
	}
	p.add(&fileSpec{path: ".gitignore", lang: langIgnore})
	// Carriers are planned later; keep room for about one per six secrets.
	n := o.Files - len(p.files) - o.Secrets/6
	var sizes []float64
	var langs []lang
	var total, scalable float64
	for gi, g := range generic {
		k := int(math.Round(g.share * float64(n)))
		if gi == len(generic)-1 {
			k = n - len(langs)
		}
		for range k {
			s := g.median * math.Exp(r.NormFloat64()*0.9)
			s = min(max(s, 150), g.median*20)
			sizes, langs = append(sizes, s), append(langs, g.lang)
			total += s
			if !generic[gi].capped {
				scalable += s
			}
		}
	}
	budget := float64(o.Size - used)
	scale := max((budget-(total-scalable))/scalable, 0.05)
	for i, l := range langs {
		s := sizes[i]
		if !capped(l) {
			s *= scale
		}
		p.add(&fileSpec{path: p.pathFor(l), lang: l, size: int64(max(s, 150))})
	}
	return p
}

func capped(l lang) bool {
	for _, g := range generic {
		if g.lang == l {
			return g.capped
		}
	}
	return false
}

func (p *plan) add(f *fileSpec) {
	p.files = append(p.files, f)
	p.byLang[f.lang] = append(p.byLang[f.lang], f)
	p.paths[f.path] = true
}

// unique makes a path unique by numbering it.
func (p *plan) unique(s string) string {
	if !p.paths[s] {
		return s
	}
	ext := path.Ext(s)
	if strings.HasPrefix(path.Base(s), ".") && strings.Count(path.Base(s), ".") == 1 {
		ext = ""
	}
	base := strings.TrimSuffix(s, ext)
	for i := 2; ; i++ {
		c := fmt.Sprintf("%s-%d%s", base, i, ext)
		if !p.paths[c] {
			return c
		}
	}
}

// pathFor picks a realistic path for a file of language l: services in
// Go, Python and Java, web apps in JS/TS, manifests, Terraform, docs.
func (p *plan) pathFor(l lang) string {
	for range 20 {
		if s := p.randomPath(l); !p.paths[s] {
			return s
		}
	}
	return p.unique(p.randomPath(l))
}

func (p *plan) randomPath(l lang) string {
	r := p.r
	svc := pick(r, p.svcs...)
	app := pick(r, p.apps...)
	env := pick(r, "dev", "staging", "prod")
	wd := func() string { return pick(r, words...) }
	var s string
	switch l {
	case langGo:
		s = pick(r, "services/"+svc+"/internal/"+word(r)+"/"+wd()+".go", "services/"+svc+"/internal/"+word(r)+"/"+word(r)+"/"+wd()+"_test.go",
			"services/"+svc+"/pkg/"+word(r)+"/"+wd()+".go", "services/"+svc+"/cmd/"+svc+"-"+word(r)+"/main.go", "libs/go/"+word(r)+"/"+wd()+".go")
	case langPy:
		s = pick(r, "services/"+svc+"-worker/"+svc+"_worker/"+word(r)+"/"+wd()+".py", "services/"+svc+"-worker/tests/test_"+wd()+".py",
			"tools/"+word(r)+"/"+wd()+".py", "ml/pipelines/"+word(r)+"/"+wd()+".py")
	case langJS:
		s = pick(r, "web/"+app+"/src/"+word(r)+"/"+ident(r)+".js", "web/"+app+"/scripts/"+ident(r)+".js", "web/"+app+"/server/routes/"+word(r)+".js")
	case langTS:
		c := typeName(r)
		s = pick(r, "web/"+app+"/src/components/"+c+"/"+c+".tsx", "web/"+app+"/src/"+word(r)+"/"+ident(r)+".ts", "web/"+app+"/src/hooks/use"+c+".ts")
	case langJava:
		s = "services/" + svc + "-api/src/" + pick(r, "main", "main", "test") + "/java/com/acme/" + svc + "/" + word(r) + "/" + typeName(r) + pick(r, "", "Service", "Controller", "Repository") + ".java"
	case langYAML:
		s = pick(r, "services/"+svc+"/config/"+env+".yaml", ".github/workflows/"+wd()+".yml", "charts/"+svc+"/values-"+env+".yaml", "services/"+svc+"/"+wd()+"/docker-compose.yml", "config/"+wd()+".yaml")
	case langJSON:
		s = pick(r, "services/"+svc+"/config/"+wd()+".json", "web/"+app+"/config/"+env+".json", "web/"+app+"/public/"+wd()+".json", "fixtures/"+svc+"/"+wd()+".json")
	case langK8s:
		s = pick(r, "deploy/k8s/"+env+"/"+svc+"/"+wd()+".yaml", "charts/"+svc+"/templates/"+wd()+".yaml", "services/"+svc+"/deploy/"+wd()+".yaml", "deploy/k8s/base/"+svc+".yaml")
	case langTF:
		s = pick(r, "infra/terraform/modules/"+wd()+"/"+pick(r, "main", "variables", "outputs", wd())+".tf", "infra/terraform/envs/"+env+"/"+wd()+".tf")
	case langEnv:
		s = pick(r, "services/"+svc+"/.env", "services/"+svc+"/.env."+env, "web/"+app+"/.env.local", "services/"+svc+"/"+wd()+"/.env", "examples/"+wd()+"/.env")
	case langDocker:
		s = pick(r, "services/"+svc+"/Dockerfile", "web/"+app+"/Dockerfile", "build/"+wd()+".Dockerfile", "services/"+svc+"/docker/"+wd()+"/Dockerfile")
	case langShell:
		s = pick(r, "scripts/"+wd()+".sh", "services/"+svc+"/scripts/"+wd()+".sh", "ops/runbooks/"+wd()+".sh")
	case langMD:
		s = pick(r, "docs/"+wd()+"/"+wd()+".md", "services/"+svc+"/"+wd()+"/README.md", "docs/adr/"+fmt.Sprintf("%04d", r.IntN(200))+"-"+wd()+".md", "docs/guides/"+wd()+"-"+wd()+".md")
	case langLog:
		s = fmt.Sprintf("logs/%s-2025-%02d-%02d.log", svc, 1+r.IntN(12), 1+r.IntN(28))
	case langCSV:
		s = fmt.Sprintf("data/exports/%s-%s-2025-%02d.csv", svc, wd(), 1+r.IntN(12))
	case langBundle:
		s = fmt.Sprintf("web/%s/dist/assets/%s-%s.min.js", app, pick(r, "index", "vendor", "main", "chunk"), rs(r, hexLower, 8))
	default:
		panic(fmt.Sprintf("pathFor: lang %d", l))
	}
	return s
}

// carrierDir is where a carrier file (an .npmrc, a key) lives.
func (p *plan) carrierDir() string {
	r := p.r
	return pick(r, "", "ops/", "ops/ci/", "deploy/", "services/"+pick(r, p.svcs...)+"/", "web/"+pick(r, p.apps...)+"/", "infra/bootstrap/", "scripts/legacy/")
}

// plant spreads about n secrets, every kind in turn, over the files.
func (p *plan) plant(n int) {
	ks := kinds()
	order := make([]*kindSpec, 0, n)
	for planted := 0; planted < n; {
		k := ks[len(order)%len(ks)]
		order = append(order, k)
		planted++
		if k.name == "kubeconfig" {
			planted++
		}
	}
	p.r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, k := range order {
		v := p.fresh(k.value)
		if k.carry != nil && p.r.Float64() < k.carryShare {
			name, sn := k.carry(p.r, k, v)
			fp := p.unique(p.carrierDir() + name)
			p.add(&fileSpec{path: fp, lang: langCarrier, whole: &sn})
			continue
		}
		l := pick(p.r, k.hosts...)
		f := pick(p.r, p.byLang[l]...)
		var s sb
		if k.render != nil {
			k.render(p.r, &s, l, k, v)
		} else {
			assign(p.r, &s, l, pick(p.r, k.names...), k.name, v, false)
		}
		p.place(f, s.snippet())
	}
}

// topUp adds small sources until there are n files: the room kept for
// carriers is an estimate.
func (p *plan) topUp(n int) {
	for len(p.files) < n {
		g := generic[p.r.IntN(len(generic))]
		p.add(&fileSpec{path: p.pathFor(g.lang), lang: g.lang, size: int64(g.median)})
	}
}

// fresh draws values until one is new: no two planted values are equal.
func (p *plan) fresh(f func(*rand.Rand) string) string {
	for {
		v := f(p.r)
		if !p.seen[v] {
			p.seen[v] = true
			return v
		}
	}
}

func (p *plan) decoy(n int) {
	ds := decoys()
	for i := range n {
		d := ds[i%len(ds)]
		l := pick(p.r, d.hosts...)
		f := pick(p.r, p.byLang[l]...)
		var s sb
		d.render(p.r, &s, l, d)
		p.place(f, s.snippet())
	}
}

func (p *plan) place(f *fileSpec, sn snippet) {
	f.inserts = append(f.inserts, insert{at: p.r.Int64N(max(f.size, 1)), sn: sn})
}

// lineWriter counts lines and columns as it writes.
type lineWriter struct {
	w     *bufio.Writer
	n     int64
	lines int
	col   int // bytes written on the current line
	err   error
}

func (w *lineWriter) write(s string) {
	if w.err != nil {
		return
	}
	_, w.err = w.w.WriteString(s)
	w.n += int64(len(s))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		w.lines += strings.Count(s, "\n")
		w.col = len(s) - i - 1
	} else {
		w.col += len(s)
	}
}

// put writes a snippet and returns its marks placed on 1-based lines;
// with cols, their columns too.
func (w *lineWriter) put(file string, sn snippet, cols bool) []record {
	base, col := w.lines+1, w.col
	w.write(sn.text)
	out := make([]record, len(sn.marks))
	for i, m := range sn.marks {
		switch {
		case !cols:
			m.col = 0
		case m.line == 0:
			m.col += col
		}
		m.line, m.start, m.end = m.line+base, m.start+base, m.end+base
		out[i] = record{file: file, mark: m}
	}
	return out
}

func writeFile(r *rand.Rand, dir string, f *fileSpec) (int64, []record, error) {
	full := filepath.Join(dir, filepath.FromSlash(f.path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return 0, nil, err
	}
	out, err := os.Create(full)
	if err != nil {
		return 0, nil, err
	}
	w := &lineWriter{w: bufio.NewWriterSize(out, 256<<10)}
	var recs []record
	if f.whole != nil {
		recs = w.put(f.path, *f.whole, false)
	} else {
		fl := newFiller(r, f.lang, f.path)
		slices.SortStableFunc(f.inserts, func(a, b insert) int { return int(a.at - b.at) })
		ins := f.inserts
		w.write(fl.header)
		if fl.chunk != nil {
			for w.n < f.size && w.err == nil {
				for len(ins) > 0 && ins[0].at <= w.n {
					recs = append(recs, w.put(f.path, ins[0].sn, f.lang == langBundle)...)
					ins = ins[1:]
				}
				w.write(fl.chunk())
			}
		}
		for _, in := range ins {
			recs = append(recs, w.put(f.path, in.sn, f.lang == langBundle)...)
		}
		w.write(fl.footer)
	}
	if w.err == nil {
		w.err = w.w.Flush()
	}
	if err := out.Close(); w.err == nil {
		w.err = err
	}
	if w.err != nil {
		return 0, nil, fmt.Errorf("write %s: %w", full, w.err)
	}
	return w.n, recs, nil
}
