package osv

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"sync"
)

// Decode reads one OSV record, a single JSON document, from r. A record
// needs an id; anything after the document is an error.
func Decode(r io.Reader) (*Vulnerability, error) {
	dec := json.NewDecoder(r)
	var v Vulnerability
	if err := dec.Decode(&v); err != nil {
		return nil, describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the record at byte offset %d", dec.InputOffset())
	}
	if v.ID == "" {
		return nil, errors.New("record has no id")
	}
	return &v, nil
}

// describeJSONError adds the byte offset encoding/json knows but does not
// print.
func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty record")
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte offset %d: %w", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Errorf("field %s at byte offset %d: %w", typ.Field, typ.Offset, err)
	}
	return err
}

// ReadZip streams every record of an OSV archive (as OSV.dev publishes
// <ecosystem>/all.zip: one JSON record per entry) to fn, in archive
// order. Entries are decompressed and decoded a batch at a time on all
// CPUs, so memory stays bounded by the batch, not the archive. Entries
// that are not .json files are skipped. Errors name the archive and the
// entry; an error from fn stops the walk and is returned as it is.
func ReadZip(name string, fn func(*Vulnerability) error) error {
	return readZip(name, nil, fn)
}

// readZip is ReadZip; when keep is set, only entries whose raw JSON it
// accepts are decoded (a cheap byte test before the costly decode).
func readZip(name string, keep func(raw []byte) bool, fn func(*Vulnerability) error) error {
	zr, err := zip.OpenReader(name)
	if err != nil {
		return fmt.Errorf("open OSV archive: %w", err)
	}
	defer zr.Close()
	var files []*zip.File
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() && path.Ext(f.Name) == ".json" {
			files = append(files, f)
		}
	}
	workers := runtime.GOMAXPROCS(0)
	batch := 64 * workers
	recs := make([]*Vulnerability, batch)
	errs := make([]error, batch)
	for len(files) > 0 {
		n := min(batch, len(files))
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				var buf bytes.Buffer
				for i := w; i < n; i += workers {
					recs[i], errs[i] = decodeEntry(files[i], &buf, keep)
				}
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				return fmt.Errorf("%s: entry %s: %w", name, files[i].Name, errs[i])
			}
			if recs[i] == nil {
				continue
			}
			if err := fn(recs[i]); err != nil {
				return err
			}
			recs[i] = nil
		}
		files = files[n:]
	}
	return nil
}

// decodeEntry reads one entry into buf (records are small, the archive is
// not) and decodes it, unless keep rejects it: then it returns nil, nil.
func decodeEntry(f *zip.File, buf *bytes.Buffer, keep func([]byte) bool) (*Vulnerability, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, err
	}
	if keep != nil && !keep(buf.Bytes()) {
		return nil, nil
	}
	return Decode(bytes.NewReader(buf.Bytes()))
}
