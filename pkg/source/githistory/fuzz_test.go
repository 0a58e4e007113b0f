package githistory

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that any output of git, however broken, parses to
// well-formed changes or to an error naming the line of output, never a
// panic, and that the bound on a change's text holds and changes nothing
// but the text.
func FuzzParse(f *testing.F) {
	patches, _ := filepath.Glob("testdata/*.patch")
	for _, p := range patches {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range badPatches {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 16
		all, errAll := parseAll(data, -1)
		cut, errCut := parseAll(data, max)
		if (errAll == nil) != (errCut == nil) || errAll != nil && errAll.Error() != errCut.Error() {
			t.Fatalf("the bound changed the error: %v, then %v", errAll, errCut)
		}
		if errAll != nil && !strings.HasPrefix(errAll.Error(), "output line ") {
			t.Fatalf("error %q does not name the line of output", errAll)
		}
		if len(all) != len(cut) {
			t.Fatalf("%d changes, %d with a bound", len(all), len(cut))
		}
		for i, c := range all {
			check(t, c, -1)
			check(t, cut[i], max)
			if c.Commit != cut[i].Commit || c.Path != cut[i].Path || c.Truncated {
				t.Fatalf("change %d: %+v, with a bound %+v", i, c, cut[i])
			}
		}
	})
}

func check(t *testing.T, c Change, max int64) {
	t.Helper()
	if !isHash(c.Commit) || c.Path == "" || len(c.Hunks) == 0 {
		t.Fatalf("bad change %+v", c)
	}
	var n int64
	last := 0
	for _, h := range c.Hunks {
		if h.Line <= last || len(h.Text) == 0 || !bytes.HasSuffix(h.Text, []byte("\n")) {
			t.Fatalf("bad hunk %+v in %+v", h, c)
		}
		last = h.Line + bytes.Count(h.Text, []byte("\n")) - 1
		n += int64(len(h.Text))
	}
	if max >= 0 && n > max {
		t.Fatalf("%d bytes kept, bound %d", n, max)
	}
}
