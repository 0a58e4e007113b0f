package advise

import (
	"bufio"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/golden/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, d)
	}
}

// syscallNumber is the inverse of SyscallName, for fixtures written by name.
func syscallNumber(t testing.TB, arch Arch, name string) uint32 {
	t.Helper()
	for nr := uint32(0); nr < 1024; nr++ {
		if n, ok := SyscallName(arch, nr); ok && n == name {
			return nr
		}
	}
	t.Fatalf("no %s syscall %q", arch, name)
	return 0
}

// loadCounts reads a "name count" fixture into the sensor's form.
func loadCounts(t testing.TB, path string, arch Arch) map[uint32]uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[uint32]uint64{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, n, ok := strings.Cut(text, " ")
		c, err := strconv.ParseUint(n, 10, 64)
		if !ok || err != nil {
			t.Fatalf("%s:%d: want \"name count\", got %q", path, line, text)
		}
		counts[syscallNumber(t, arch, name)] = c
	}
	return counts
}

func TestSyscallName(t *testing.T) {
	for _, tc := range []struct {
		arch Arch
		nr   uint32
		want string
	}{
		{AMD64, 0, "read"},
		{AMD64, 59, "execve"},
		{AMD64, 231, "exit_group"},
		{AMD64, 262, "newfstatat"},
		{AMD64, 435, "clone3"},
		{AMD64, 400, ""}, // a hole in the table
		{AMD64, 5000, ""},
		{AMD64, 1 << 31, ""},
		{ARM64, 63, "read"},
		{ARM64, 221, "execve"},
		{ARM64, 2, "io_submit"},
		{"riscv", 0, ""},
	} {
		got, ok := SyscallName(tc.arch, tc.nr)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("SyscallName(%s, %d) = %q, %v; want %q", tc.arch, tc.nr, got, ok, tc.want)
		}
	}
}

func TestNewSeccomp(t *testing.T) {
	counts := loadCounts(t, "testdata/testbin-syscalls.amd64.txt", AMD64)
	for _, tc := range []struct {
		name   string
		opts   SeccompOptions
		counts []map[uint32]uint64
	}{
		{"testbin", SeccompOptions{}, []map[uint32]uint64{counts}},
		{"testbin-kill-nobaseline", SeccompOptions{DefaultAction: specs.ActKillProcess, NoBaseline: true}, []map[uint32]uint64{counts}},
		// Two containers merged; zero counts are not calls.
		{"merged", SeccompOptions{NoBaseline: true}, []map[uint32]uint64{{0: 1, 1: 5, 60: 0}, {1: 2, 231: 1}}},
		{"arm64", SeccompOptions{Arch: ARM64, DefaultAction: specs.ActLog, NoBaseline: true}, []map[uint32]uint64{{63: 1, 64: 1, 94: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSeccomp(tc.opts, tc.counts...)
			if err != nil {
				t.Fatal(err)
			}
			js, err := s.JSON()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".json", js)
			y, err := yaml.Marshal(s.SPO("shop", tc.name))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".spo.yaml", y)
			// What JSON wrote reads back as the same profile.
			back, err := ReadSeccomp(bytes.NewReader(js), tc.name+".json")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(s, back); d != "" {
				t.Errorf("ReadSeccomp(JSON()) differs (-want +got):\n%s", d)
			}
		})
	}
}

func TestNewSeccompErrors(t *testing.T) {
	for _, tc := range []struct {
		opts   SeccompOptions
		counts map[uint32]uint64
		want   string
	}{
		{SeccompOptions{}, map[uint32]uint64{0: 1, 400: 2, 9999: 1}, "syscall numbers [400 9999] are not amd64 syscalls"},
		{SeccompOptions{Arch: "s390x"}, nil, `unknown architecture "s390x"`},
		{SeccompOptions{DefaultAction: specs.ActAllow}, nil, `default action "SCMP_ACT_ALLOW"`},
	} {
		_, err := NewSeccomp(tc.opts, tc.counts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSeccomp(%+v) error = %v, want %q", tc.opts, err, tc.want)
		}
	}
}

func TestMergeAndWithout(t *testing.T) {
	a := &Seccomp{Arch: AMD64, DefaultAction: specs.ActLog, Syscalls: []string{"read", "write"}}
	b := &Seccomp{Arch: AMD64, DefaultAction: specs.ActKillProcess, Syscalls: []string{"close", "write"}}
	m, err := a.Merge(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &Seccomp{Arch: AMD64, DefaultAction: specs.ActKillProcess, Syscalls: []string{"close", "read", "write"}}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("Merge (-want +got):\n%s", d)
	}
	if got := m.Without("read", "nope").Syscalls; !cmp.Equal(got, []string{"close", "write"}) {
		t.Errorf("Without(read) = %v", got)
	}
	if len(m.Syscalls) != 3 {
		t.Errorf("Without changed its receiver: %v", m.Syscalls)
	}
	if _, err := a.Merge(&Seccomp{Arch: ARM64}); err == nil {
		t.Error("merging amd64 and arm64 profiles did not fail")
	}
}

func TestReadSeccompErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "bad.json: EOF"},
		{"{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"architectures\": [\"SCMP_ARCH_X86_64\"],\n  \"syscalls\": [\n    {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",}\n  ]\n}", "bad.json: line 5: invalid character '}'"},
		{`{"defaultAction": 3}`, "bad.json: line 1: json: cannot unmarshal number"},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]}`, `defaultAction "SCMP_ACT_ALLOW" is not an allow-list default`},
		{`{"defaultAction": "SCMP_ACT_ERRNO"}`, "bad.json: no architectures"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"]}`, `architecture "SCMP_ARCH_X86" is not`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]}`, "more than one architecture"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["reed"], "action": "SCMP_ACT_ALLOW"}]}`, `syscalls[0]: "reed" is not a amd64 syscall`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}]}`, "syscalls[0]: only unconditional SCMP_ACT_ALLOW rules"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`, "1 argument conditions"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "flagz": []}`, `unknown field "flagz"`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"]} {}`, "more than one JSON value"},
	} {
		_, err := ReadSeccomp(strings.NewReader(tc.in), "bad.json")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadSeccomp(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzReadSeccomp(f *testing.F) {
	files, _ := filepath.Glob("testdata/golden/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_AARCH64"],"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ReadSeccomp(bytes.NewReader(b), "fuzz.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// Whatever reads must write and read back the same.
		js, err := s.JSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ReadSeccomp(bytes.NewReader(js), "again.json")
		if err != nil {
			t.Fatalf("re-reading %s: %v", js, err)
		}
		if d := cmp.Diff(s, back); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
	})
}

func BenchmarkNewSeccomp(b *testing.B) {
	// A busy container: every amd64 syscall number once, split over ten
	// recordings to merge.
	counts := make([]map[uint32]uint64, 10)
	for i := range counts {
		counts[i] = map[uint32]uint64{}
	}
	for nr := uint32(0); nr < uint32(len(syscallsAmd64)); nr++ {
		if syscallsAmd64[nr] != "" {
			counts[nr%10][nr] = uint64(nr) + 1
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewSeccomp(SeccompOptions{}, counts...); err != nil {
			b.Fatal(err)
		}
	}
}
