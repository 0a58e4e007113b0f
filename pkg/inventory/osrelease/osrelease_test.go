package osrelease

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/mamori-dev/mamori/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

func memFile(path, content string) *inventory.File {
	return inventory.NewFile(path, inventory.FileInfo{Size: int64(len(content))}, strings.NewReader(content), "", nil)
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// analyzeTree runs the analyzer over every file of a fixture tree it
// wants and returns the results by path, and the one Rank picks (the
// first of the best, in path order, as inventory.Merge does).
func analyzeTree(t *testing.T, root string) (map[string]*inventory.OS, *inventory.OS) {
	t.Helper()
	a := New()
	got := map[string]*inventory.OS{}
	var best *inventory.OS
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if !a.Wants(rel, inventory.FileInfo{}) {
			t.Errorf("fixture %s is not wanted", rel)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		res, err := a.Analyze(context.Background(), memFile(rel, string(b)))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		got[rel] = res.OS
		if best == nil || inventory.OSRank(res.OS) > inventory.OSRank(best) {
			best = res.OS
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, best
}

// TestDistros reads the real release files of each distribution in
// testdata/<distro>/ and checks the OS chosen among them, field by field,
// and every file's result against a golden file.
func TestDistros(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		want inventory.OS
	}{
		{"debian12", inventory.OS{Family: "debian", Name: "Debian GNU/Linux 12 (bookworm)", Version: "12", Codename: "bookworm",
			Ecosystem: "Debian:12", EOL: date("2028-06-30"), Path: "usr/lib/os-release"}},
		{"debian-trixie-sid", inventory.OS{Family: "debian", Name: "Debian GNU/Linux trixie/sid", Version: "13", Codename: "trixie",
			Ecosystem: "Debian:13", EOL: date("2030-06-30"), Path: "usr/lib/os-release"}},
		{"distroless-debian12", inventory.OS{Family: "debian", Name: "Distroless", Version: "12", Codename: "bookworm",
			Ecosystem: "Debian:12", Distroless: true, EOL: date("2028-06-30"), Path: "usr/lib/os-release"}},
		{"distroless-debian11", inventory.OS{Family: "debian", Name: "Distroless", Version: "11", Codename: "bullseye",
			Ecosystem: "Debian:11", Distroless: true, EOL: date("2026-08-31"), Path: "usr/lib/os-release"}},
		{"ubuntu22.04", inventory.OS{Family: "ubuntu", Name: "Ubuntu 22.04.4 LTS", Version: "22.04", Codename: "jammy",
			Ecosystem: "Ubuntu:22.04:LTS", EOL: date("2027-06-01"), Path: "usr/lib/os-release"}},
		{"ubuntu24.04", inventory.OS{Family: "ubuntu", Name: "Ubuntu 24.04.1 LTS", Version: "24.04", Codename: "noble",
			Ecosystem: "Ubuntu:24.04:LTS", EOL: date("2029-05-31"), Path: "usr/lib/os-release"}},
		{"alpine3.20.3", inventory.OS{Family: "alpine", Name: "Alpine Linux v3.20", Version: "3.20.3",
			Ecosystem: "Alpine:v3.20", EOL: date("2026-04-01"), Path: "etc/os-release"}},
		{"rocky9.4", inventory.OS{Family: "rocky", Name: "Rocky Linux 9.4 (Blue Onyx)", Version: "9.4", Codename: "Blue Onyx",
			Ecosystem: "Rocky Linux:9", EOL: date("2032-05-31"), Path: "etc/os-release"}},
		{"amzn2023", inventory.OS{Family: "amzn", Name: "Amazon Linux 2023.6.20250218", Version: "2023",
			EOL: date("2029-06-30"), Path: "etc/os-release"}},
		{"centos7", inventory.OS{Family: "centos", Name: "CentOS Linux 7 (Core)", Version: "7", Codename: "Core",
			EOL: date("2024-06-30"), Path: "etc/os-release"}},
		{"wolfi", inventory.OS{Family: "wolfi", Name: "Wolfi", Version: "20230201", Ecosystem: "Wolfi", Path: "etc/os-release"}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			files, best := analyzeTree(t, filepath.Join("testdata", tc.dir))
			if best == nil {
				t.Fatal("no OS")
			}
			if d := gocmp.Diff(tc.want, *best); d != "" {
				t.Errorf("chosen OS (-want +got):\n%s", d)
			}
			got, err := json.MarshalIndent(files, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.dir+".golden.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if d := gocmp.Diff(string(bytes.TrimSpace(want)), string(got)); d != "" {
				t.Errorf("per-file results differ from %s (-want +got):\n%s", golden, d)
			}
		})
	}
}

// TestFiles covers single release files: the other files of the Red Hat
// family, lsb-release and the edge cases of each format.
func TestFiles(t *testing.T) {
	for _, tc := range []struct {
		path, content string
		want          inventory.OS
	}{
		{"etc/redhat-release", "Red Hat Enterprise Linux release 9.4 (Plow)\n", inventory.OS{Family: "rhel",
			Name: "Red Hat Enterprise Linux release 9.4 (Plow)", Version: "9.4", Codename: "Plow",
			Ecosystem: "Red Hat:enterprise_linux:9", EOL: date("2032-05-31")}},
		{"etc/almalinux-release", "AlmaLinux release 9.4 (Seafoam Ocelot)\n", inventory.OS{Family: "almalinux",
			Name: "AlmaLinux release 9.4 (Seafoam Ocelot)", Version: "9.4", Codename: "Seafoam Ocelot",
			Ecosystem: "AlmaLinux:9", EOL: date("2032-05-31")}},
		{"etc/centos-release", "CentOS Stream release 9\n", inventory.OS{Family: "centos",
			Name: "CentOS Stream release 9", Version: "9", EOL: date("2027-05-31")}},
		{"etc/centos-release", "CentOS Linux release 8.5.2111\n", inventory.OS{Family: "centos",
			Name: "CentOS Linux release 8.5.2111", Version: "8.5.2111", EOL: date("2021-12-31")}},
		{"etc/system-release", "Amazon Linux release 2 (Karoo)\n", inventory.OS{Family: "amzn",
			Name: "Amazon Linux release 2 (Karoo)", Version: "2", Codename: "Karoo", EOL: date("2026-06-30")}},
		{"etc/system-release", "Amazon Linux AMI release 2018.03\n", inventory.OS{Family: "amzn",
			Name: "Amazon Linux AMI release 2018.03", Version: "2018.03", EOL: date("2023-12-31")}},
		{"etc/os-release", "NAME=\"CentOS Stream\"\nVERSION=\"9\"\nID=\"centos\"\nVERSION_ID=\"9\"\nPRETTY_NAME=\"CentOS Stream 9\"\n",
			inventory.OS{Family: "centos", Name: "CentOS Stream 9", Version: "9", EOL: date("2027-05-31")}},
		{"etc/os-release", "ID=chainguard\nNAME=\"Chainguard\"\nPRETTY_NAME=\"Chainguard\"\nVERSION_ID=\"20230214\"\n",
			inventory.OS{Family: "chainguard", Name: "Chainguard", Version: "20230214", Ecosystem: "Chainguard"}},
		{"etc/os-release", "NAME=\"SLES\"\nVERSION=\"15-SP5\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 15 SP5\"\nID=\"sles\"\n",
			inventory.OS{Family: "sles", Name: "SUSE Linux Enterprise Server 15 SP5", Version: "15.5", Ecosystem: "SUSE:Linux Enterprise Server 15 SP5"}},
		// Fedora has no table entry: SUPPORT_END gives the date.
		{"etc/os-release", "NAME=\"Fedora Linux\"\nVERSION=\"40 (Container Image)\"\nID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 (Container Image)\"\nSUPPORT_END=2025-05-13\n",
			inventory.OS{Family: "fedora", Name: "Fedora Linux 40 (Container Image)", Version: "40", Codename: "Container Image", EOL: date("2025-05-13")}},
		// Interim Ubuntu releases are not LTS; 24.10 is.
		{"etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=23.10\nDISTRIB_CODENAME=mantic\nDISTRIB_DESCRIPTION=\"Ubuntu 23.10\"\n",
			inventory.OS{Family: "ubuntu", Name: "Ubuntu 23.10", Version: "23.10", Codename: "mantic", Ecosystem: "Ubuntu:23.10", EOL: date("2024-07-11")}},
		{"etc/os-release", "ID=ubuntu\nVERSION_ID=\"24.10\"\n", inventory.OS{Family: "ubuntu", Version: "24.10", Ecosystem: "Ubuntu:24.10", EOL: date("2025-07-10")}},
		// An edge snapshot is no release: no ecosystem, no end of life.
		{"etc/alpine-release", "3.21_alpha20240807\n", inventory.OS{Family: "alpine", Version: "3.21_alpha20240807"}},
		{"etc/alpine-release", "3.9.6\n", inventory.OS{Family: "alpine", Version: "3.9.6", Ecosystem: "Alpine:v3.9"}},
		{"etc/debian_version", "11.11\n", inventory.OS{Family: "debian", Version: "11.11", Codename: "bullseye", Ecosystem: "Debian:11", EOL: date("2026-08-31")}},
		{"etc/debian_version", "bookworm/sid\n", inventory.OS{Family: "debian", Codename: "bookworm"}},
		// Quoting as os-release(5) allows: single quotes, escapes,
		// comments, CRLF, spaces around.
		{"usr/lib/os-release", "# comment\r\nID='debian'\r\n  VERSION_ID=\"1\\\"2\"\r\nPRETTY_NAME=\"a \\$b \\\\ c\"\r\n\r\n",
			inventory.OS{Family: "debian", Name: `a $b \ c`, Version: `1"2`}},
	} {
		t.Run(tc.path+"/"+tc.content[:min(len(tc.content), 24)], func(t *testing.T) {
			res, err := New().Analyze(context.Background(), memFile(tc.path, tc.content))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			want.Path = tc.path
			if d := gocmp.Diff(want, *res.OS); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		path, content, wantErr string
		wantOS                 bool // the OS is still given
	}{
		{"etc/os-release", "NAME=x\n", "no ID field", false},
		{"etc/os-release", "ID=debian\nVERSION_ID=\"12\nFOO\n", "line 2: VERSION_ID: unterminated quote", true},
		{"etc/os-release", "ID=debian\nthis is not\n", "line 2: not KEY=value", true},
		{"etc/os-release", "ID=debian\nBAD KEY=1\n", "line 2: not KEY=value", true},
		{"etc/os-release", "\x00\x01", "line 1: not KEY=value", false},
		{"etc/lsb-release", "DISTRIB_RELEASE=22.04\n", "no DISTRIB_ID field", false},
		{"etc/alpine-release", "", "line 1: empty", false},
		{"etc/alpine-release", "v3.20\n", "line 1: \"v3.20\" is not an Alpine release", false},
		{"etc/alpine-release", "3.20.3\n3.20.4\n", "line 2: more than one line", false},
		{"etc/debian_version", "twelve\n", "line 1: \"twelve\" is not a Debian release", false},
		{"etc/redhat-release", "Rocky Linux 9.4\n", "want \"<product> release <version> (<codename>)\"", false},
		{"etc/redhat-release", "Slackware release 15.0\n", "unknown distribution \"Slackware\"", false},
		{"etc/redhat-release", "Fedora release forty\n", "want \"<product> release", false},
	} {
		t.Run(tc.path+"/"+tc.wantErr, func(t *testing.T) {
			res, err := New().Analyze(context.Background(), memFile(tc.path, tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q in it", err, tc.wantErr)
			}
			if (res != nil && res.OS != nil) != tc.wantOS {
				t.Errorf("result %+v, want an OS: %v", res, tc.wantOS)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	f := inventory.NewFile("etc/os-release", inventory.FileInfo{Size: maxSize + 1}, strings.NewReader(""), "", nil)
	_, err := New().Analyze(context.Background(), f)
	if !errors.Is(err, inventory.ErrTooLarge) || !strings.Contains(err.Error(), "65537 bytes") {
		t.Fatalf("error %v, want ErrTooLarge with the size", err)
	}
}

func TestWants(t *testing.T) {
	for path, want := range map[string]bool{
		"etc/os-release":         true,
		"usr/lib/os-release":     true,
		"etc/alpine-release":     true,
		"etc/debian_version":     true,
		"etc/lsb-release":        true,
		"etc/redhat-release":     true,
		"etc/system-release":     true,
		"etc/centos-release":     true,
		"etc/rocky-release":      true,
		"etc/almalinux-release":  true,
		"etc/system-release-cpe": false,
		"etc/issue":              false,
		"os-release":             false,
		"opt/etc/os-release":     false,
		"usr/lib/os-release.d/x": false,
		"/etc/os-release":        false,
	} {
		if got := New().Wants(path, inventory.FileInfo{}); got != want {
			t.Errorf("Wants(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestEOLTable checks the table's dates and that every release the brief
// names has one.
func TestEOLTable(t *testing.T) {
	for k, s := range eolTable {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil || d.Year() < 2015 || d.Year() > 2040 {
			t.Errorf("%v: bad date %q", k, s)
		}
	}
	var missing []string
	need := func(family string, releases ...string) {
		for _, r := range releases {
			if eol(family, r).IsZero() {
				missing = append(missing, family+" "+r)
			}
		}
	}
	need("debian", "8", "9", "10", "11", "12", "13")
	for y := 14; y <= 25; y++ {
		for _, m := range []string{"04", "10"} {
			need("ubuntu", strings.Join([]string{itoa(y), m}, "."))
		}
	}
	for m := 10; m <= 22; m++ {
		need("alpine", "3."+itoa(m))
	}
	need("rhel", "7", "8", "9", "10")
	need("rocky", "8", "9", "10")
	need("almalinux", "8", "9", "10")
	need("centos", "7", "8", "stream8", "stream9", "stream10")
	need("amzn", "2018.03", "2", "2023")
	if len(missing) > 0 {
		t.Errorf("no end of life for %v", missing)
	}
	// A past and a future release, at a fixed time.
	now := date("2026-11-24")
	for _, tc := range []struct {
		o    inventory.OS
		past bool
	}{
		{inventory.OS{Family: "debian", Version: "11.11"}, true},
		{inventory.OS{Family: "debian", Version: "12"}, false},
		{inventory.OS{Family: "alpine", Version: "3.20.3"}, true},
		{inventory.OS{Family: "alpine", Version: "3.22.1"}, false},
		{inventory.OS{Family: "wolfi", Version: "20230201"}, false},
	} {
		o := tc.o
		complete(&o, false)
		if got := o.PastEOL(now); got != tc.past {
			t.Errorf("%s %s (EOL %v): PastEOL = %v, want %v", o.Family, o.Version, o.EOL, got, tc.past)
		}
	}
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

// TestRank checks the order of the package documentation.
func TestRank(t *testing.T) {
	ordered := []inventory.OS{
		{Family: "debian", Codename: "trixie", Path: "etc/debian_version"},
		{Family: "debian", Ecosystem: "Debian:12", Path: "etc/debian_version"},
		{Family: "debian", Ecosystem: "Debian:12", Path: "usr/lib/os-release"},
		{Family: "debian", Ecosystem: "Debian:12", Distroless: true, Path: "usr/lib/os-release"},
	}
	for i := 1; i < len(ordered); i++ {
		if inventory.OSRank(&ordered[i-1]) >= inventory.OSRank(&ordered[i]) {
			t.Errorf("OSRank(%+v) >= OSRank(%+v)", ordered[i-1], ordered[i])
		}
	}
}

// TestDebianRootfs reads the os-release files of a real Debian 12 minbase
// system built by hack/debian-rootfs.sh; it skips when there is none.
func TestDebianRootfs(t *testing.T) {
	root := cmp.Or(os.Getenv("MAMORI_DEBIAN_ROOTFS"), "/var/cache/mamori-test/debian12-minbase")
	if _, err := os.Stat(filepath.Join(root, "usr/lib/os-release")); err != nil {
		t.Skipf("no Debian rootfs (build it with hack/debian-rootfs.sh): %v", err)
	}
	s := inventory.Scanner{Analyzers: []inventory.Analyzer{New()}}
	inv, err := s.Scan(context.Background(), inventory.Dir{Root: root, Skip: inventory.RootfsSkip})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Problems) > 0 || inv.OS == nil {
		t.Fatalf("OS %+v, problems %v", inv.OS, inv.Problems)
	}
	if inv.OS.Family != "debian" || inv.OS.Ecosystem != "Debian:12" || inv.OS.Codename != "bookworm" {
		t.Errorf("OS %+v, want Debian 12 bookworm", inv.OS)
	}
}

func FuzzOSRelease(f *testing.F) {
	err := filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		f.Add(b, uint8(0))
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("ID='a\nVERSION_ID=\"\\"), uint8(1))
	kinds := []kind{osRelease, alpineRelease, debianVersion, lsbRelease, redhatRelease}
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		o, err := parse(kinds[int(k)%len(kinds)], b)
		if o == nil && err == nil {
			t.Fatal("neither an OS nor an error")
		}
		if o != nil && o.Family == "" {
			t.Fatalf("OS without a family: %+v", o)
		}
		if err != nil && !slices.ContainsFunc([]string{"line ", "no ID", "no DISTRIB_ID"}, func(s string) bool {
			return strings.Contains(err.Error(), s)
		}) {
			t.Fatalf("error without a line: %v", err)
		}
	})
}
