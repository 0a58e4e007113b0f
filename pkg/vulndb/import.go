package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"

	"github.com/mamori-dev/mamori/pkg/osv"
)

// maxProblems is how many bad records an import lists before it stops.
const maxProblems = 20

// batchSize is how many records one write transaction holds: bbolt keeps a
// transaction's dirty pages in memory, so batches bound the peak.
const batchSize = 5000

// ImportOptions tune Import.
type ImportOptions struct {
	// SkipInvalid skips bad records (counted and listed in Stats) instead
	// of failing the import.
	SkipInvalid bool
	// Progress, when set, gets one line per input.
	Progress io.Writer
}

// Stats says what an import or update did.
type Stats struct {
	Read     int // records read from the inputs
	Added    int // records with a new ID
	Replaced int // stored records replaced by a newer modified time
	Kept     int // records no newer than the stored copy (dropped)
	Skipped  int // bad records skipped with SkipInvalid
	// Invalid lists the first bad records (input and what is wrong).
	Invalid []string
	Records int // records in the database afterwards
	// Update only: ecosystems downloaded, ecosystems the server reported
	// unchanged, and bytes downloaded.
	Downloaded  []string
	NotModified []string
	Bytes       int64
}

// input is one path to read; archive, when set, is what Update knows
// about a downloaded all.zip (its URL and validators).
type input struct {
	path    string
	eco     string   // for archives: the ecosystem it is recorded under
	archive *Archive // Update's metadata for a downloaded archive
	source  string   // Update's base URL, recorded instead of path
}

// Import reads OSV records from inputs (JSON files, directories searched
// recursively for *.json, and zip archives such as OSV's all.zip) into the
// database at dbPath, creating it if needed. Records already stored stay;
// a record whose ID is stored is taken only if its modified time is newer.
//
// A bad record fails the import, listing every bad record up to 20, unless
// opts.SkipInvalid is set. The database is built in a new file beside
// dbPath and renamed over it only when complete and synced: a failed or
// cancelled import leaves the old file as it was.
func Import(ctx context.Context, dbPath string, inputs []string, opts ImportOptions) (*Stats, error) {
	if len(inputs) == 0 {
		return nil, errors.New("import: no inputs")
	}
	var ins []input
	for _, p := range inputs {
		in := input{path: p}
		if isZip(p) {
			in.eco = archiveEcosystem(p)
		}
		ins = append(ins, in)
	}
	return build(ctx, dbPath, ins, opts, nil)
}

// isZip reports whether path names a zip archive: by its name, or by its
// magic number, so archives need no particular name.
func isZip(path string) bool {
	if strings.EqualFold(filepath.Ext(path), ".zip") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && (string(magic[:]) == "PK\x03\x04" || string(magic[:]) == "PK\x05\x06")
}

// archiveEcosystem names the ecosystem of an archive the way OSV lays them
// out: <Ecosystem>/all.zip, or a file named <Ecosystem>.zip.
func archiveEcosystem(path string) string {
	base := filepath.Base(path)
	if base == "all.zip" {
		return filepath.Base(filepath.Dir(path))
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// job is one record to read; res receives the outcome.
type job struct {
	where string // file, or archive:entry
	read  func() ([]byte, error)
	in    int // index into inputs
	res   chan result
}

type result struct {
	where string
	in    int
	e     *entry
	err   error
}

// build writes a new database file from the old one (if any) and inputs,
// then renames it over dbPath. notModified lists Update's archives the
// server confirmed unchanged (their Fetched time is refreshed).
func build(ctx context.Context, dbPath string, inputs []input, opts ImportOptions, notModified []string) (_ *Stats, err error) {
	dir := filepath.Dir(dbPath)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(dbPath + ".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dbPath)+"-*.tmp")
	if err != nil {
		return nil, err
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer func() {
		if err != nil {
			os.Remove(tmpPath)
		}
	}()
	// The new file is written without fsync per transaction (it is not the
	// database until renamed) and synced once at the end.
	db, err := bolt.Open(tmpPath, 0o644, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", tmpPath, err)
	}
	closed := false
	defer func() {
		if !closed {
			db.Close()
		}
	}()
	meta, err := copyOld(dbPath, db)
	if err != nil {
		return nil, err
	}

	st := &Stats{}
	archives, err := readInputs(ctx, db, inputs, opts, st)
	if err != nil {
		return nil, err
	}

	now := time.Now().UTC()
	meta.Updated = now
	srcs := meta.Sources
	for i, in := range inputs {
		a := archives[i]
		switch {
		case in.archive != nil:
			a.Source, a.ETag, a.LastModified = in.archive.Source, in.archive.ETag, in.archive.LastModified
			srcs = append(srcs, in.source)
		default:
			abs, err := filepath.Abs(in.path)
			if err != nil {
				abs = in.path
			}
			srcs = append(srcs, abs)
			a.Source = abs
		}
		if in.eco != "" {
			a.Fetched = now
			if meta.Archives == nil {
				meta.Archives = map[string]Archive{}
			}
			meta.Archives[in.eco] = a
		}
	}
	for _, eco := range notModified {
		if a, ok := meta.Archives[eco]; ok {
			a.Fetched = now
			meta.Archives[eco] = a
		}
	}
	meta.Sources = uniqueSorted(srcs)
	err = db.Update(func(tx *bolt.Tx) error {
		if err := countRecords(tx, &meta); err != nil {
			return err
		}
		st.Records = meta.Records
		b, err := json.Marshal(&meta)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyMeta, b)
	})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", tmpPath, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Batches rewrite package groups and leave free pages behind: copy the
	// result into a tight file, which is the one synced and renamed.
	final, err := compactTo(db, dir, dbPath)
	if err != nil {
		return nil, err
	}
	closed = true
	db.Close()
	os.Remove(tmpPath)
	if err := os.Rename(final, dbPath); err != nil {
		os.Remove(final)
		return nil, err
	}
	// The rename is durable only once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return st, nil
}

// compactTo copies src into a new file beside dbPath, synced, and returns
// its name.
func compactTo(src *bolt.DB, dir, dbPath string) (string, error) {
	f, err := os.CreateTemp(dir, "."+filepath.Base(dbPath)+"-*.tmp")
	if err != nil {
		return "", err
	}
	name := f.Name()
	f.Close()
	dst, err := bolt.Open(name, 0o644, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err == nil {
		err = bolt.Compact(dst, src, 8<<20)
		if err == nil {
			err = dst.Sync()
		}
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		// CreateTemp made it private; the database is for every reader.
		err = os.Chmod(name, 0o644)
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("write %s: %w", name, err)
	}
	return name, nil
}

// copyOld copies the database at path, if there is one, into db (compacted)
// and returns its meta; otherwise it creates the buckets and a new meta.
func copyOld(path string, db *bolt.DB) (Meta, error) {
	if _, err := os.Stat(path); err == nil {
		old, err := bolt.Open(path, 0o444, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return Meta{}, fmt.Errorf("open %s: %w", path, err)
		}
		defer old.Close()
		var m Meta
		if err := old.View(func(tx *bolt.Tx) (err error) {
			m, err = readMeta(tx)
			return err
		}); err != nil {
			return m, fmt.Errorf("%s: %w", path, err)
		}
		if err := bolt.Compact(db, old, 8<<20); err != nil {
			return m, fmt.Errorf("copy %s: %w", path, err)
		}
		return m, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return Meta{}, err
	}
	m := Meta{Schema: schemaVersion, Built: time.Now().UTC()}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketVulns, bucketPkgs, bucketRefs, bucketEcos} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	return m, err
}

// readInputs decodes every record of inputs on all CPUs and merges them into
// db in input order (so the outcome of equal modified times does not depend
// on scheduling: the first stored wins). It returns what it learnt of each
// archive input.
func readInputs(parent context.Context, db *bolt.DB, inputs []input, opts ImportOptions, st *Stats) ([]Archive, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return nil, err
	}
	defer dec.Close()

	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *job, 4*workers)
	order := make(chan *job, 8*workers)
	archives := make([]Archive, len(inputs))
	var closers []io.Closer // archives, closed once the workers are done
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()

	// Producer: walk the inputs in order; each job goes to the writer's
	// queue first, then to a worker.
	prodErr := make(chan error, 1)
	go func() {
		defer close(jobs)
		defer close(order)
		prodErr <- produce(ctx, inputs, archives, &closers, func(j *job) bool {
			j.res = make(chan result, 1)
			select {
			case order <- j:
			case <-ctx.Done():
				return false
			}
			select {
			case jobs <- j:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				r := result{where: j.where, in: j.in}
				var data []byte
				if data, r.err = j.read(); r.err == nil {
					var v *osv.Vulnerability
					if v, r.err = parseRecord(data); r.err == nil {
						r.e = newEntry(enc, v, data)
					}
				}
				j.res <- r
			}
		})
	}

	// Writer: merge in input order, batchSize records per transaction.
	w := &writer{db: db, enc: enc, dec: dec, st: st}
	counts := make([]int, len(inputs))
	var werr error
	for j := range order {
		var r result
		select {
		case r = <-j.res:
		case <-ctx.Done():
		}
		if werr != nil || ctx.Err() != nil {
			continue // drain the queue so the producer can finish
		}
		if r.err != nil {
			if len(st.Invalid) < maxProblems {
				st.Invalid = append(st.Invalid, fmt.Sprintf("%s: %v", r.where, r.err))
			}
			st.Skipped++
			if !opts.SkipInvalid && st.Skipped >= maxProblems {
				cancel()
			}
			continue
		}
		st.Read++
		counts[r.in]++
		r.e.archive = inputs[r.in].eco
		if werr = w.add(r.e); werr != nil {
			cancel()
		}
	}
	perr := <-prodErr
	wg.Wait()
	if werr == nil && parent.Err() == nil {
		werr = w.commit()
	}
	w.rollback()
	switch {
	case werr != nil:
		return nil, werr
	case st.Skipped > 0 && !opts.SkipInvalid:
		return nil, invalidError(st)
	case parent.Err() != nil:
		return nil, parent.Err()
	case perr != nil:
		return nil, perr
	}
	for i := range archives {
		archives[i].Records = counts[i]
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "%s: %d records\n", inputs[i].path, counts[i])
		}
	}
	return archives, nil
}

func invalidError(st *Stats) error {
	msg := fmt.Sprintf("%d invalid record(s), nothing imported (use --skip-invalid to import the rest):\n  %s", st.Skipped, strings.Join(st.Invalid, "\n  "))
	if st.Skipped >= maxProblems {
		msg = fmt.Sprintf("stopped after %d invalid records, nothing imported:\n  %s", st.Skipped, strings.Join(st.Invalid, "\n  "))
	}
	return errors.New(msg)
}

// produce sends a job per record of inputs to send, which returns false
// when the import is being abandoned.
func produce(ctx context.Context, inputs []input, archives []Archive, closers *[]io.Closer, send func(*job) bool) error {
	for i, in := range inputs {
		fi, err := os.Stat(in.path)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			err = filepath.WalkDir(in.path, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() || !strings.HasSuffix(p, ".json") {
					return nil
				}
				if !send(&job{where: p, in: i, read: func() ([]byte, error) { return readFile(p) }}) {
					return ctx.Err()
				}
				return nil
			})
		case in.eco != "":
			err = produceZip(ctx, in.path, i, &archives[i], closers, send)
		default:
			p := in.path
			if !send(&job{where: p, in: i, read: func() ([]byte, error) { return readFile(p) }}) {
				err = ctx.Err()
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f)
}

func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxRecordSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecordSize {
		return nil, fmt.Errorf("record larger than %d MB", maxRecordSize>>20)
	}
	return data, nil
}

// produceZip sends a job per entry of a zip archive; workers read entries
// concurrently (zip.Reader reads through ReaderAt), so the archive is
// closed by the caller once they are done. Its size and sha256 go to a.
func produceZip(ctx context.Context, path string, in int, a *Archive, closers *[]io.Closer, send func(*job) bool) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	*closers = append(*closers, zr)
	hashed := make(chan error, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			hashed <- err
			return
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		a.Size, a.SHA256 = n, hex.EncodeToString(h.Sum(nil))
		hashed <- err
	}()
	var sent int
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue // a directory
		}
		read := func() ([]byte, error) {
			if !strings.HasSuffix(f.Name, ".json") {
				return nil, errors.New("not a .json entry")
			}
			if f.UncompressedSize64 > maxRecordSize {
				return nil, fmt.Errorf("record larger than %d MB", maxRecordSize>>20)
			}
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return readLimited(rc)
		}
		if !send(&job{where: path + ":" + f.Name, in: in, read: read}) {
			break
		}
		sent++
	}
	if err := <-hashed; err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if sent == 0 {
		return fmt.Errorf("%s: no records in the archive", path)
	}
	return nil
}

// writer merges entries into the new database. Package groups are
// rewritten once per batch, from the changes the batch collected.
type writer struct {
	db      *bolt.DB
	enc     *zstd.Encoder
	dec     *zstd.Decoder
	tx      *bolt.Tx
	n       int
	st      *Stats
	pending map[string]*change // package key → records to put or drop
}

type change struct {
	put  map[string][]byte
	drop map[string]bool
}

func (w *writer) change(k string) *change {
	c := w.pending[k]
	if c == nil {
		c = &change{put: map[string][]byte{}, drop: map[string]bool{}}
		w.pending[k] = c
	}
	return c
}

func (w *writer) add(e *entry) error {
	if w.tx == nil {
		tx, err := w.db.Begin(true)
		if err != nil {
			return err
		}
		w.tx, w.pending = tx, map[string]*change{}
	}
	vulns := w.tx.Bucket(bucketVulns)
	if old := vulns.Get([]byte(e.id)); old != nil {
		t, err := storedTime(old)
		if err != nil {
			return fmt.Errorf("stored %s: %w", e.id, err)
		}
		oldV, err := decodeStored(w.dec, old)
		if err != nil {
			return fmt.Errorf("stored %s: %w", e.id, err)
		}
		oldKeys, _, _ := indexKeys(oldV)
		oldBases := keyBases(oldKeys)
		// An all.zip archive speaks for its own ecosystem: the combined
		// per-CVE records of Debian.zip and Alpine.zip were captured days
		// apart, and a newer Alpine-only copy must not take the Debian
		// entries away, nor an older copy bring stale ones back.
		speaksFor := func(base string) bool { return e.archive == "" || base == e.archive }
		if !e.modified.After(t) {
			w.st.Kept++
			if e.archive == "" || oldBases[e.archive] {
				return nil
			}
			// The stored copy has no entry for this archive's ecosystem.
			for k, v := range e.pkgs {
				if BaseEcosystem(keyEcosystem(k)) == e.archive {
					c := w.change(k)
					delete(c.drop, e.id)
					c.put[e.id] = v
				}
			}
			return w.addEcos(e, e.archive)
		}
		if err := w.remove(e.id, old, speaksFor); err != nil {
			return fmt.Errorf("replace %s: %w", e.id, err)
		}
		w.st.Replaced++
	} else {
		w.st.Added++
	}
	if err := vulns.Put([]byte(e.id), e.stored); err != nil {
		return err
	}
	for k, v := range e.pkgs {
		c := w.change(k)
		delete(c.drop, e.id)
		c.put[e.id] = v
	}
	refs, ecos := w.tx.Bucket(bucketRefs), w.tx.Bucket(bucketEcos)
	for _, k := range e.refs {
		if err := refs.Put([]byte(k), nil); err != nil {
			return err
		}
	}
	for _, k := range e.ecos {
		if err := ecos.Put([]byte(k), nil); err != nil {
			return err
		}
	}
	if w.n++; w.n >= batchSize {
		return w.commit()
	}
	return nil
}

// remove drops the index entries of a stored record about to be replaced.
// Only the entries of base ecosystems drop reports go; the others stay.
func (w *writer) remove(id string, stored []byte, drop func(base string) bool) error {
	v, err := decodeStored(w.dec, stored)
	if err != nil {
		return err
	}
	pkgKeys, refs, allEcos := indexKeys(v)
	var ecos []string
	for _, k := range allEcos {
		eco, _, _ := strings.Cut(k, "\x00")
		if drop(BaseEcosystem(eco)) {
			ecos = append(ecos, k)
		}
	}
	for _, k := range pkgKeys {
		if !drop(BaseEcosystem(keyEcosystem(k))) {
			continue
		}
		c := w.change(k)
		delete(c.put, id)
		c.drop[id] = true
	}
	for _, kb := range []struct {
		b    []byte
		keys []string
	}{{bucketRefs, refs}, {bucketEcos, ecos}} {
		b := w.tx.Bucket(kb.b)
		for _, k := range kb.keys {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush rewrites the package groups the batch changed, in key order.
func (w *writer) flush() error {
	pkgs := w.tx.Bucket(bucketPkgs)
	for _, k := range sortedKeys(w.pending) {
		c := w.pending[k]
		recs := map[string][]byte{}
		if v := pkgs.Get([]byte(k)); v != nil {
			g, err := decodeGroup(w.dec, v)
			if err != nil {
				return fmt.Errorf("package %q: %w", k, err)
			}
			for i, id := range g.ids {
				recs[id] = g.recs[i]
			}
		}
		for id := range c.drop {
			delete(recs, id)
		}
		for id, rec := range c.put {
			recs[id] = rec
		}
		if len(recs) == 0 {
			if err := pkgs.Delete([]byte(k)); err != nil {
				return err
			}
			continue
		}
		g := &group{ids: sortedKeys(recs)}
		for _, id := range g.ids {
			g.recs = append(g.recs, recs[id])
		}
		if err := pkgs.Put([]byte(k), g.encode(w.enc)); err != nil {
			return err
		}
	}
	w.pending = nil
	return nil
}

func (w *writer) rollback() {
	if w.tx != nil {
		w.tx.Rollback()
		w.tx = nil
	}
}

func (w *writer) commit() error {
	if w.tx == nil {
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	err := w.tx.Commit()
	w.tx, w.n = nil, 0
	return err
}

// countRecords fills in meta's record counts from the indexes.
func countRecords(tx *bolt.Tx, m *Meta) error {
	m.Records = tx.Bucket(bucketVulns).Stats().KeyN
	m.Ecosystems = map[string]int{}
	bases := map[string]map[string]bool{}
	err := tx.Bucket(bucketEcos).ForEach(func(k, _ []byte) error {
		eco, id, ok := bytes.Cut(k, []byte{0})
		if !ok {
			return fmt.Errorf("bad ecosystem key %q", k)
		}
		m.Ecosystems[string(eco)]++
		base := BaseEcosystem(string(eco))
		if bases[base] == nil {
			bases[base] = map[string]bool{}
		}
		bases[base][string(id)] = true
		return nil
	})
	m.Bases = map[string]int{}
	for b, ids := range bases {
		m.Bases[b] = len(ids)
	}
	return err
}

// addEcos records the entries of an older copy for its archive's
// ecosystem base, for the per-ecosystem counts.
func (w *writer) addEcos(e *entry, base string) error {
	b := w.tx.Bucket(bucketEcos)
	for _, k := range e.ecos {
		eco, _, _ := strings.Cut(k, "\x00")
		if BaseEcosystem(eco) == base {
			if err := b.Put([]byte(k), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// keyEcosystem is the ecosystem of a package key (ecosystem NUL name NUL).
func keyEcosystem(k string) string {
	eco, _, _ := strings.Cut(k, "\x00")
	return eco
}

// keyBases is the set of base ecosystems of package keys.
func keyBases(keys []string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[BaseEcosystem(keyEcosystem(k))] = true
	}
	return m
}
