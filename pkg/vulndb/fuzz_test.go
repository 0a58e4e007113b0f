package vulndb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FuzzParseRecord: any input either parses into a record whose index keys
// and trimmed copies can be built, or is an error; never a panic.
func FuzzParseRecord(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseRecord(data)
		if err != nil {
			return
		}
		e := newEntry(enc, v, data)
		back, err := decodeStored(dec, e.stored)
		if err != nil || back.ID != v.ID {
			t.Fatalf("stored record does not read back: %v", err)
		}
		for k, rec := range e.pkgs {
			g := &group{ids: []string{v.ID}, recs: [][]byte{rec}}
			got, err := decodeGroup(dec, g.encode(enc))
			if err != nil || len(got.ids) != 1 || string(got.recs[0]) != string(rec) {
				t.Fatalf("group %q does not read back: %v", k, err)
			}
		}
	})
}

// FuzzDecodeGroup: a corrupt group value is an error, not a panic.
func FuzzDecodeGroup(f *testing.F) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add((&group{ids: []string{"A", "B"}, recs: [][]byte{[]byte(`{"id":"A"}`), []byte(`{"id":"B"}`)}}).encode(enc))
	f.Add(enc.EncodeAll([]byte{0xff, 0xff, 0xff}, nil))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, v []byte) {
		g, err := decodeGroup(dec, v)
		if err == nil && len(g.ids) != len(g.recs) {
			t.Fatal("ids and records differ in number")
		}
	})
}
