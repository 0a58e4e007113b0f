package image

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Flags of a path in one layer's record.
const (
	fEntry    = 1 << iota // an entry at exactly the path
	fNonDir               // the entry is no directory: it hides what lay under the path
	fWhiteout             // the path was deleted
	fOpaque               // the directory's lower content was deleted
)

// maxWalkers bounds the layers decompressed at once.
const maxWalkers = 4

// Inventory runs s's analyzers over every file of every layer they want,
// then squashes: a file counts in the version of the topmost layer that
// has it, unless a later layer deleted or replaced it (whiteout, opaque
// directory, a non-directory over one of its parents). Each package of a
// surviving file is attributed to the lowest layer from which a version
// of that file held the same package (type, name, version) in every
// layer up to the final one: a package installed in the base layer keeps
// layer 0 when later layers rewrite the database around it.
//
// A hard link takes the results of its target (earlier in the same
// layer) under its own path; sparse files are not read.
//
// Faults of single layers or files are Problems with the layer set; the
// rest of the image is still scanned. The error is for ctx.
//
// Layers are decompressed concurrently, up to GOMAXPROCS (at most 4), and
// analysis runs in s.Workers goroutines while the streams go on: at most
// one wanted file per walker and per worker is held at once, in memory up
// to 32 MiB and in a file under Options.TempDir beyond. Each
// layer's paths are kept as 64-bit hashes (about 12 bytes per entry), not
// as strings, so that images with millions of files fit in memory.
func (im *Image) Inventory(ctx context.Context, s *inventory.Scanner) (*inventory.Inventory, error) {
	n := len(im.layers)
	sq := &squash{
		seed:    maphash.MakeSeed(),
		flags:   make([]map[uint64]uint8, n),
		wanted:  make([]map[string]inventory.FileInfo, n),
		results: map[layerPath]*version{},
		links:   map[layerPath]string{},
	}
	for i := range n {
		sq.flags[i] = map[uint64]uint8{}
		sq.wanted[i] = map[string]inventory.FileInfo{}
	}
	var (
		mu   sync.Mutex
		inv  = &inventory.Inventory{}
		jobs = make(chan job)
	)
	problem := func(p inventory.Problem) {
		mu.Lock()
		inv.Problems = append(inv.Problems, p)
		mu.Unlock()
	}
	workers := s.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				v, probs := analyze(ctx, j, im.layers[j.layer])
				v.seq = j.seq
				mu.Lock()
				// A layer may hold a path twice (tar --append); as when
				// it is extracted, the later entry counts, whichever
				// analysis finishes first.
				k := layerPath{j.layer, j.file.Path}
				if old := sq.results[k]; old == nil || v.seq >= old.seq {
					sq.results[k] = v
				}
				inv.Problems = append(inv.Problems, probs...)
				mu.Unlock()
			}
		})
	}

	seq := make([]int, n) // entries seen per layer
	record := func(l inventory.Layer, e Entry, open inventory.OpenFunc) error {
		fl := sq.flags[l.Index] // one goroutine per layer
		seq[l.Index]++
		h := maphash.String(sq.seed, e.Path)
		switch e.Kind {
		case Whiteout:
			fl[h] |= fWhiteout
		case Opaque:
			fl[h] |= fOpaque
		case Dir:
			fl[h] |= fEntry
		default:
			fl[h] |= fEntry | fNonDir
		}
		switch e.Kind {
		case File:
		case Hardlink:
			sq.link(l, e, s.Analyzers, problem)
			return nil
		default:
			return nil
		}
		var want []inventory.Analyzer
		for _, a := range s.Analyzers {
			if a.Wants(e.Path, e.Info) {
				want = append(want, a)
			}
		}
		if len(want) == 0 {
			return nil
		}
		sq.wanted[l.Index][e.Path] = e.Info
		f, err := open()
		if err != nil {
			return nil // Walk reports it as a problem of the layer
		}
		select {
		case jobs <- job{layer: l.Index, seq: seq[l.Index], file: f, analyzers: want}:
			return nil
		case <-ctx.Done():
			f.Close()
			return ctx.Err()
		}
	}

	walkers := min(runtime.GOMAXPROCS(0), maxWalkers, max(n, 1))
	next := make(chan int)
	var walkErr error
	var errOnce sync.Once
	var ww sync.WaitGroup
	for range walkers {
		ww.Go(func() {
			for i := range next {
				if err := im.walkLayer(ctx, i, record, problem); err != nil {
					errOnce.Do(func() { walkErr = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	ww.Wait()
	close(jobs)
	wg.Wait()
	if walkErr != nil {
		return nil, walkErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sq.resolveLinks()
	sq.merge(inv, im.layers)
	inventory.Finish(inv)
	slices.SortStableFunc(inv.Problems, func(a, b inventory.Problem) int {
		return cmp.Compare(layerIndex(a.Layer), layerIndex(b.Layer))
	})
	return inv, nil
}

func layerIndex(l *inventory.Layer) int {
	if l == nil {
		return -1
	}
	return l.Index
}

type job struct {
	layer     int
	seq       int // entry number in the layer: the last copy of a path wins
	file      *inventory.File
	analyzers []inventory.Analyzer
}

type layerPath struct {
	layer int
	path  string
}

type pkgKey struct {
	typ           inventory.Type
	name, version string
}

// version is what the analyzers found in one layer's version of a file.
type version struct {
	results []analyzerResult // by analyzer name
	keys    map[pkgKey]bool
	seq     int
}

type analyzerResult struct {
	analyzer string
	result   *inventory.Result
}

func analyze(ctx context.Context, j job, l inventory.Layer) (*version, []inventory.Problem) {
	defer j.file.Close()
	v := &version{keys: map[pkgKey]bool{}}
	var probs []inventory.Problem
	for _, a := range j.analyzers {
		r, err := inventory.AnalyzeFile(ctx, a, j.file)
		if err != nil {
			lc := l
			probs = append(probs, inventory.Problem{Path: j.file.Path, Layer: &lc, Analyzer: a.Name(), Err: err})
		}
		if r == nil {
			continue
		}
		v.results = append(v.results, analyzerResult{a.Name(), r})
		for _, p := range r.Packages {
			v.keys[pkgKey{p.Type, p.Name, p.Version}] = true
		}
	}
	slices.SortFunc(v.results, func(a, b analyzerResult) int { return strings.Compare(a.analyzer, b.analyzer) })
	return v, probs
}

// squash is what the walk recorded: per layer, hashed paths with flags
// and the analyzed paths; per analyzed file version, its results; hard
// links to analyzed files.
type squash struct {
	seed    maphash.Seed
	flags   []map[uint64]uint8
	wanted  []map[string]inventory.FileInfo
	results map[layerPath]*version
	mu      sync.Mutex // guards links
	links   map[layerPath]string
}

// link records a hard link an analyzer wants. Its content went by in the
// stream as its target's, so it takes the target's results; a target no
// analyzer read is a problem, not a silent gap.
func (sq *squash) link(l inventory.Layer, e Entry, as []inventory.Analyzer, problem func(inventory.Problem)) {
	info, analyzed := sq.wanted[l.Index][e.Link]
	if !analyzed {
		info = inventory.FileInfo{Mode: e.Info.Mode}
	}
	if !slices.ContainsFunc(as, func(a inventory.Analyzer) bool { return a.Wants(e.Path, info) }) {
		return
	}
	if !analyzed {
		lc := l
		problem(inventory.Problem{Path: e.Path, Layer: &lc, Err: fmt.Errorf("hard link to %s, which no analyzer read, so its content is gone from the stream", e.Link)})
		return
	}
	sq.mu.Lock()
	sq.links[layerPath{l.Index, e.Path}] = e.Link
	sq.mu.Unlock()
}

// resolveLinks gives each hard link its target's results, under its own
// path.
func (sq *squash) resolveLinks() {
	for lp, target := range sq.links {
		v := sq.results[layerPath{lp.layer, target}]
		if v == nil {
			continue // the target could not be read: reported already
		}
		alias := &version{keys: v.keys}
		for _, r := range v.results {
			c := *r.result
			c.Packages = slices.Clone(c.Packages)
			for i := range c.Packages {
				c.Packages[i].Path = lp.path
			}
			if c.OS != nil {
				o := *c.OS
				o.Path = lp.path
				c.OS = &o
			}
			alias.results = append(alias.results, analyzerResult{r.analyzer, &c})
		}
		sq.results[lp] = alias
	}
}

// touched reports whether layer k changes path p: writes, deletes or
// replaces p itself, or deletes or replaces one of its parents.
func (sq *squash) touched(k int, p string) bool {
	fl := sq.flags[k]
	if fl[maphash.String(sq.seed, p)] != 0 {
		return true
	}
	for d := p; d != ""; {
		d = path.Dir(d)
		if d == "." {
			d = ""
		}
		if fl[maphash.String(sq.seed, d)]&(fNonDir|fWhiteout|fOpaque) != 0 {
			return true
		}
	}
	return false
}

// merge adds the surviving files' OS and packages to inv.
func (sq *squash) merge(inv *inventory.Inventory, layers []inventory.Layer) {
	top := map[string]int{} // path → topmost layer with an analyzed version
	for lp := range sq.results {
		if t, ok := top[lp.path]; !ok || lp.layer > t {
			top[lp.path] = lp.layer
		}
	}
	paths := make([]string, 0, len(top))
	for p := range top {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	copies := make([]*inventory.Layer, len(layers))
	for i := range layers {
		c := layers[i]
		copies[i] = &c
	}
	for _, p := range paths {
		f := top[p]
		touched := make([]bool, len(layers))
		gone := false
		for k := range layers {
			touched[k] = sq.touched(k, p)
			if k > f && touched[k] {
				gone = true
			}
		}
		if gone {
			continue
		}
		final := sq.results[layerPath{f, p}]
		for _, r := range final.results {
			if inventory.PreferOS(r.result.OS, inv.OS) {
				inv.OS = r.result.OS
			}
			inv.AddLicenses(r.result.Licenses)
			for _, pkg := range r.result.Packages {
				key := pkgKey{pkg.Type, pkg.Name, pkg.Version}
				from := f
				for k := f - 1; k >= 0; k-- {
					if !touched[k] {
						continue
					}
					v := sq.results[layerPath{k, p}]
					if v == nil || !v.keys[key] {
						break
					}
					from = k
				}
				pkg.Layer = copies[from]
				inv.Packages = append(inv.Packages, pkg)
			}
		}
	}
}
