package secret

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/inventory"
	"github.com/mamori-dev/mamori/pkg/source/files"
	"github.com/mamori-dev/mamori/pkg/source/image"
)

// skippedInTree reports whether a file at a slash path is left out by
// default: lock files, files under vendored trees, binary names.
func skippedInTree(p string) bool {
	if files.IsLockFile(p) || files.IsBinaryName(p) {
		return true
	}
	dir := path.Dir(p)
	for dir != "." && dir != "/" && dir != "" {
		if files.IsVendorDir(path.Base(dir)) {
			return true
		}
		dir = path.Dir(dir)
	}
	return false
}

// imageFile is a file read from a layer, handed to a worker.
type imageFile struct {
	layer inventory.Layer
	path  string
	data  []byte
}

// ScanImage reports the secrets in an image: in every layer's files (a
// file a later layer deletes is still in the layer anyone who pulls the
// image gets), in the configuration's environment and in the build
// history (ARG and ENV values end up in created_by). target names the
// image in findings.
func (s *Scanner) ScanImage(ctx context.Context, im *image.Image, target string) (*finding.Report, error) {
	rep := &finding.Report{Targets: []string{target}, Rules: s.Rules(), ObjectNoun: "scanned file"}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		jobs    = make(chan imageFile, s.opts.Workers)
		binary  int
		results []finding.Finding
	)
	for range s.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				if files.IsBinary(f.data[:min(len(f.data), 8<<10)]) {
					mu.Lock()
					binary++
					mu.Unlock()
					continue
				}
				found, _ := s.eng.FileFindings(f.path, f.data)
				lr := &finding.LayerRef{Index: f.layer.Index, Digest: f.layer.Digest, CreatedBy: f.layer.CreatedBy}
				for i := range found {
					found[i].Secret.Layer = lr
					found[i].Secret.Target = target
					found[i].Message += fmt.Sprintf(" (layer %d)", f.layer.Index)
				}
				mu.Lock()
				rep.Objects++
				results = append(results, found...)
				mu.Unlock()
			}
		}()
	}
	walkErr := im.Walk(ctx, func(layer inventory.Layer, e image.Entry, open inventory.OpenFunc) error {
		if e.Kind != image.File || open == nil {
			return nil
		}
		mu.Lock()
		rep.Files++
		mu.Unlock()
		if !s.opts.All && skippedInTree(e.Path) {
			return nil
		}
		if e.Info.Size > s.opts.MaxFileSize {
			mu.Lock()
			rep.Notes = append(rep.Notes, finding.Problem{File: e.Path, Message: fmt.Sprintf("in layer %d (%s): %d bytes, larger than --max-file-size (%d): not scanned", layer.Index, layer.Digest, e.Info.Size, s.opts.MaxFileSize)})
			mu.Unlock()
			return nil
		}
		if e.Info.Size == 0 {
			return nil
		}
		f, err := open()
		if err != nil {
			mu.Lock()
			rep.Errors = append(rep.Errors, finding.Problem{File: e.Path, Message: fmt.Sprintf("in layer %d (%s): %v", layer.Index, layer.Digest, err)})
			mu.Unlock()
			return nil
		}
		data, err := io.ReadAll(f.Reader())
		f.Close()
		if err != nil {
			mu.Lock()
			rep.Errors = append(rep.Errors, finding.Problem{File: e.Path, Message: fmt.Sprintf("in layer %d (%s): %v", layer.Index, layer.Digest, err)})
			mu.Unlock()
			return nil
		}
		select {
		case jobs <- imageFile{layer: layer, path: e.Path, data: data}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, func(p inventory.Problem) {
		msg := p.Err.Error()
		if p.Layer != nil {
			msg = fmt.Sprintf("in layer %d (%s): %s", p.Layer.Index, p.Layer.Digest, msg)
		}
		mu.Lock()
		rep.Errors = append(rep.Errors, finding.Problem{File: p.Path, Message: msg})
		mu.Unlock()
	})
	close(jobs)
	wg.Wait()
	if walkErr != nil {
		return nil, walkErr
	}
	rep.Findings = append(results, s.configFindings(im, target)...)
	if binary > 0 {
		rep.Notes = append(rep.Notes, finding.Problem{Message: fmt.Sprintf("%d binary files not scanned", binary)})
	}
	s.applyExceptions(rep, nil)
	rep.Sort()
	return rep, nil
}

// configFindings scans the image configuration's environment and history.
func (s *Scanner) configFindings(im *image.Image, target string) []finding.Finding {
	if im.Config == nil {
		return nil
	}
	const file = "image config"
	var out []finding.Finding
	add := func(m Match, p, where string) {
		f := m.Finding(file, finding.Resource{}, p)
		f.Location.Line, f.Location.Column = 0, 0
		f.Message = fmt.Sprintf("%s in %s: %s", m.Rule.Title, where, m.Redacted)
		f.Secret.Target = target
		out = append(out, f)
	}
	for i, kv := range im.Config.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		for _, m := range s.eng.ScanValue(k, []byte(v)) {
			add(m, fmt.Sprintf("config.Env[%d]", i), "ENV "+k)
		}
	}
	for i, h := range im.Config.History {
		for _, m := range s.eng.Scan([]byte(h.CreatedBy)) {
			add(m, fmt.Sprintf("history[%d].created_by", i), fmt.Sprintf("build step %d", i))
		}
	}
	return out
}
