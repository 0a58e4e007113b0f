package rules

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

// FuzzLoad feeds arbitrary rule files to the loader: it must return a set
// or an error, never panic, and a set it returns must evaluate events.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"testdata/bad/*.yaml", "testdata/user/*.yaml", "builtin/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	events := []*event.Event{
		{Kind: event.Exec, Process: event.Process{Binary: "/bin/sh", Args: []string{"sh"}}},
		{Kind: event.Open, File: &event.File{Path: "/etc/shadow"}, Container: inPod("a", "b", map[string]string{"x": "y"})},
		{Kind: event.Connect, Net: &event.Net{DstAddr: "169.254.169.254", DstPort: 80}},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := LoadBytes("fuzz.yaml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, e := range events {
			s.Evaluate(e)
		}
		s.WatchedPaths()
		s.KernelKills()
	})
}
