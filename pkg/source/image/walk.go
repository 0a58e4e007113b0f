package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// Kind says what a layer entry is.
type Kind uint8

// Entry kinds.
const (
	File     Kind = iota // regular file; the only kind with content to open
	Dir                  // directory
	Symlink              // symbolic link; Link is the target as written
	Hardlink             // hard link; Link is the linked path in the image
	Whiteout             // Path was deleted from the layers below (.wh.name)
	Opaque               // Path is a directory whose content from the layers below was deleted (.wh..wh..opq); "" is the root
	Other                // device, FIFO, sparse file, or whiteout metadata
)

var kindNames = [...]string{"file", "dir", "symlink", "hardlink", "whiteout", "opaque", "other"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Entry is one entry of a layer.
type Entry struct {
	// Path is slash-separated and relative to the image root, without a
	// leading slash or "./". For whiteouts it is the deleted path, for
	// opaque markers the directory.
	Path   string
	Kind   Kind
	Info   inventory.FileInfo
	Link   string
	Header *tar.Header // as read, for owners, times and modes
}

// WalkFunc is called for each entry of each layer. open is nil except for
// regular files; it must be called before fn returns, if at all, and
// reads the content from the layer stream. The File it returns stays
// valid until closed, so it can be handed to another goroutine.
type WalkFunc func(layer inventory.Layer, e Entry, open inventory.OpenFunc) error

// maxInMemory is the largest file content open keeps in memory; larger
// files are spilled to a temporary file, removed on Close.
const maxInMemory = 32 << 20

// Walk calls fn for every entry of every layer, bottom layer first, in
// the order of each layer's tar stream. Layers are read as streams and
// never held whole. A layer that cannot be read (missing blob, corrupt
// compression, truncated tar) is reported to problem with the layer set,
// after its entries read before the fault were handed to fn, and the walk
// goes on with the next layer. An error fn returns stops the walk.
// problem must not be nil.
//
// Walk reports each layer's entries as written; honouring whiteouts and
// opaque directories across layers is the caller's business (Inventory
// does).
func (im *Image) Walk(ctx context.Context, fn WalkFunc, problem func(inventory.Problem)) error {
	for i := range im.layers {
		if err := im.walkLayer(ctx, i, fn, problem); err != nil {
			return err
		}
	}
	return nil
}

// walkLayer walks one layer; different layers may be walked concurrently.
func (im *Image) walkLayer(ctx context.Context, i int, fn WalkFunc, problem func(inventory.Problem)) error {
	l := im.layers[i]
	report := func(where string, err error) {
		lc := l
		problem(inventory.Problem{Path: where, Layer: &lc, Err: err})
	}
	rc, err := im.stream(i)
	if err != nil {
		report("", fmt.Errorf("open layer: %w", err))
		return nil
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	last := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if last == "" {
				report("", fmt.Errorf("layer is no readable tar stream: %w", err))
			} else {
				report(last, fmt.Errorf("layer stream broken in or after this entry: %w", err))
			}
			return nil
		}
		e, ok := entryOf(h)
		if !ok {
			continue
		}
		last = e.Path
		var open inventory.OpenFunc
		var streamErr error
		done := false
		if e.Kind == File {
			open = func() (*inventory.File, error) {
				if done {
					return nil, fmt.Errorf("%s: opened after its walk callback returned", e.Path)
				}
				done = true
				f, serr, err := im.readFile(tr, e)
				if serr != nil {
					streamErr = serr
				} else if err != nil {
					report(e.Path, err)
				}
				return f, err
			}
		}
		err = fn(l, e, open)
		done = true
		if err != nil {
			return err
		}
		if streamErr != nil {
			report(e.Path, fmt.Errorf("layer stream broken reading this file: %w", streamErr))
			return nil
		}
	}
	// Read to the end so that the decompressor checks its trailer and a
	// registry blob its digest.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		report(last, fmt.Errorf("layer stream broken after the tar's end: %w", err))
	}
	return nil
}

// entryOf classifies a tar header; ok is false for the root directory.
func entryOf(h *tar.Header) (Entry, bool) {
	p := cleanMember(h.Name)
	if p == "" {
		return Entry{}, false
	}
	mode := h.FileInfo().Mode()
	e := Entry{Path: p, Header: h, Info: inventory.FileInfo{Size: h.Size, Mode: mode}}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case base == ".wh..wh..opq":
		e.Path, e.Kind = dir, Opaque
	case strings.HasPrefix(p, ".wh..wh.") || strings.Contains(p, "/.wh..wh."):
		e.Kind = Other // aufs metadata (.wh..wh.plnk/ and the like)
	case strings.HasPrefix(base, ".wh."):
		e.Path, e.Kind = path.Join(dir, base[len(".wh."):]), Whiteout
	case h.Typeflag == tar.TypeLink:
		e.Kind, e.Link = Hardlink, cleanMember(h.Linkname)
	case mode.IsRegular() && isSparse(h):
		// A sparse file's size is logical: a few bytes of tar can claim
		// terabytes of holes. Image builders do not write them.
		e.Kind = Other
	case mode.IsRegular():
		e.Kind = File
	case mode.IsDir():
		e.Kind = Dir
	case mode&os.ModeSymlink != 0:
		e.Kind, e.Link = Symlink, h.Linkname
	default:
		e.Kind = Other
	}
	if e.Kind != File {
		e.Info.Size = 0
	}
	return e, true
}

func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// readFile reads the current tar member. streamErr is a failure of the
// layer stream, after which the layer cannot go on; err is any failure.
func (im *Image) readFile(tr *tar.Reader, e Entry) (f *inventory.File, streamErr, err error) {
	limit := im.memLimit
	if limit == 0 {
		limit = maxInMemory
	}
	if e.Info.Size <= limit {
		buf := make([]byte, e.Info.Size)
		if _, err := io.ReadFull(tr, buf); err != nil {
			return nil, err, err
		}
		return inventory.NewFile(e.Path, e.Info, bytes.NewReader(buf), "", nil), nil, nil
	}
	// The temporary file keeps the base name, for analyzers whose library
	// looks at it.
	dir, err := os.MkdirTemp(im.tempDir, "mamori-layer-*")
	if err != nil {
		return nil, nil, fmt.Errorf("spill to a temporary file: %w", err)
	}
	local := filepath.Join(dir, path.Base(e.Path))
	tf, err := os.Create(local)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("spill to a temporary file: %w", err)
	}
	cleanup := func() error {
		err := tf.Close()
		return errors.Join(err, os.RemoveAll(dir))
	}
	src := &errReader{r: tr}
	n, err := io.Copy(tf, src)
	switch {
	case src.err != nil:
		cleanup()
		return nil, src.err, src.err
	case err != nil:
		cleanup()
		return nil, nil, fmt.Errorf("spill to a temporary file: %w", err)
	case n != e.Info.Size:
		cleanup()
		return nil, io.ErrUnexpectedEOF, io.ErrUnexpectedEOF
	}
	return inventory.NewFile(e.Path, e.Info, tf, local, cleanup), nil, nil
}

// stream opens layer i decompressed.
func (im *Image) stream(i int) (io.ReadCloser, error) {
	l := im.v1[i]
	var rc io.ReadCloser
	var err error
	if im.raw {
		// Stored uncompressed, or so the first layer said: the sniffing
		// below still catches a compressed one.
		rc, err = l.Uncompressed()
	} else {
		rc, err = l.Compressed()
	}
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 1<<16)
	magic, _ := br.Peek(peekSize)
	switch sniff(magic) {
	case compGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return &readCloser{Reader: zr, close: func() error { return errors.Join(zr.Close(), rc.Close()) }}, nil
	case compZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return &readCloser{Reader: zr, close: func() error { zr.Close(); return rc.Close() }}, nil
	}
	return &readCloser{Reader: br, close: rc.Close}, nil
}

// errReader remembers its reader's failure, to tell it from the writer's.
type errReader struct {
	r   io.Reader
	err error
}

func (r *errReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
