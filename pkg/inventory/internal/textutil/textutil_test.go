package textutil

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

func TestDecodeJSONPositions(t *testing.T) {
	var v struct{ A int }
	for _, tt := range []struct{ in, want string }{
		{"{\n  \"A\": x\n}", "line 2:8:"},
		{"\xef\xbb\xbf{\n  \"A\": \"s\"\n}", "line 2:11: A: want int"},
		{"{\"A\": 1}", ""},
	} {
		err := DecodeJSON([]byte(tt.in), &v)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)) {
			t.Errorf("DecodeJSON(%q) = %v, want prefix %q", tt.in, err, tt.want)
		}
	}
}

func TestReadAllCap(t *testing.T) {
	data := []byte("0123456789")
	f := inventory.NewFile("x", inventory.FileInfo{Size: 10}, bytes.NewReader(data), "", nil)
	if _, err := ReadAll(f, 9); !errors.Is(err, inventory.ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	f = inventory.NewFile("x", inventory.FileInfo{Size: 10}, bytes.NewReader(data), "", nil)
	if b, err := ReadAll(f, 10); err != nil || string(b) != string(data) {
		t.Errorf("ReadAll = %q, %v", b, err)
	}
}
