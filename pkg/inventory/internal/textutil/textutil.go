// Package textutil holds what the inventory analyzers share to read text
// formats: a capped whole-file read, and JSON decoding whose errors say
// line:column instead of a byte offset.
package textutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

// ReadAll reads a whole file of at most max bytes; a larger one is
// inventory.ErrTooLarge (checked against its size, and against what is
// read, for sources whose size is not known up front).
func ReadAll(f *inventory.File, max int64) ([]byte, error) {
	if f.Size > max {
		return nil, fmt.Errorf("%d bytes, over %d: %w", f.Size, max, inventory.ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f.Reader(), max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("over %d bytes: %w", max, inventory.ErrTooLarge)
	}
	return b, nil
}

// DecodeJSON unmarshals JSON, turning the decoder's byte offsets into
// line:column. A UTF-8 byte order mark, which some editors (Visual
// Studio) write, is skipped.
func DecodeJSON(data []byte, v any) error {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	err := json.Unmarshal(data, v)
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		off := se.Offset
		if strings.HasPrefix(se.Error(), "invalid character") {
			off-- // the offset is just past the offending character
		}
		line, col := LineCol(data, off)
		return fmt.Errorf("line %d:%d: %v", line, col, se)
	case errors.As(err, &te):
		line, col := LineCol(data, te.Offset) // just past the value
		return fmt.Errorf("line %d:%d: %s: want %s, got JSON %s", line, col, te.Field, te.Type, te.Value)
	}
	return err
}

// LineCol turns a byte offset into a 1-based line and column.
func LineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// Clip shortens s for an error message.
func Clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// CapErrors keeps the first max errors of a file and sums up the rest, so
// that a badly damaged database gives a readable error.
func CapErrors(errs []error, max int) []error {
	if len(errs) <= max {
		return errs
	}
	return append(errs[:max:max], fmt.Errorf("and %d more stanzas in error", len(errs)-max))
}

// NotPrintable reports space and control characters, which package
// names and versions never hold.
func NotPrintable(r rune) bool { return r <= ' ' || r == 0x7f }
