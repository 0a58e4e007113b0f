package enrich

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

type pathCase struct {
	line int
	path string
	want Ref
	ok   bool
}

// readPathCases reads testdata/paths.txt (format described in its header).
func readPathCases(t testing.TB) []pathCase {
	t.Helper()
	const name = "testdata/paths.txt"
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []pathCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		path, want, found := strings.Cut(line, " => ")
		if !found {
			path, want, found = strings.Cut(line, "=> ")
		}
		if !found {
			t.Fatalf("%s:%d: no \" => \"", name, n)
		}
		c := pathCase{line: n, path: path}
		if want != "none" {
			f := strings.Fields(want)
			if len(f) != 4 {
				t.Fatalf("%s:%d: want 4 fields after =>, got %d", name, n, len(f))
			}
			for i := range f {
				if f[i] == "-" {
					f[i] = ""
				}
			}
			c.want, c.ok = Ref{ContainerID: f[0], Runtime: f[1], PodUID: f[2], QoS: f[3]}, true
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestParseCgroupPath(t *testing.T) {
	cases := readPathCases(t)
	if len(cases) < 30 {
		t.Fatalf("only %d cases read from testdata/paths.txt", len(cases))
	}
	for _, c := range cases {
		got, ok := ParseCgroupPath(c.path)
		if ok != c.ok || got != c.want {
			t.Errorf("paths.txt:%d: ParseCgroupPath(%q) = %+v, %v; want %+v, %v", c.line, c.path, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseCgroupPath(f *testing.F) {
	for _, c := range readPathCases(f) {
		f.Add(c.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		ref, ok := ParseCgroupPath(p)
		if !ok {
			if ref != (Ref{}) {
				t.Fatalf("ParseCgroupPath(%q) = %+v with ok=false", p, ref)
			}
			return
		}
		if !isContainerID(ref.ContainerID) {
			t.Fatalf("ParseCgroupPath(%q): bad container ID %q", p, ref.ContainerID)
		}
		if !strings.Contains(p, ref.ContainerID) {
			t.Fatalf("ParseCgroupPath(%q): ID %q not from the path", p, ref.ContainerID)
		}
		if ref.PodUID != "" && (ref.QoS == "" || strings.Contains(ref.PodUID, "_")) {
			t.Fatalf("ParseCgroupPath(%q) = %+v: pod without QoS or with escaped UID", p, ref)
		}
	})
}

func BenchmarkParseCgroupPath(b *testing.B) {
	p := "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod63b3ebfc_2890_11e9_8154_16bf8ef8d9dc.slice/cri-containerd-17d8c9eacc629f9945f304d89e9708c0c619649a484a215b240628319548a09f.scope"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseCgroupPath(p); !ok {
			b.Fatal("no match")
		}
	}
}
