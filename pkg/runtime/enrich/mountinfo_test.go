package enrich

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindCgroup2Mount(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    string
		wantErr string // substring of the error, which must name the file (and line)
	}{
		{file: "hybrid.txt", want: "/sys/fs/cgroup/unified"},
		{file: "unified.txt", want: "/sys/fs/cgroup"},
		{file: "escaped.txt", want: "/run/my cgroup"},
		// Inside a container the namespaced /sys/fs/cgroup is a subtree;
		// the host's hierarchy root mounted elsewhere wins.
		{file: "container.txt", want: "/host/sys/fs/cgroup"},
		{file: "none.txt", wantErr: "none.txt: no cgroup2 file system mounted"},
		{file: "malformed.txt", wantErr: "malformed.txt:2: malformed mountinfo line"},
		{file: "badescape.txt", wantErr: `badescape.txt:1: mount point: bad escape "\\9zz"`},
		{file: "truncescape.txt", wantErr: `truncescape.txt:1: mount point: truncated escape`},
		{file: "relative.txt", wantErr: `relative.txt:1: mount point "cgroup" is not absolute`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			name := filepath.Join("testdata", "mountinfo", tc.file)
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := FindCgroup2Mount(f, name)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FindCgroup2Mount = %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("FindCgroup2Mount = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDetectCgroupRoot(t *testing.T) {
	root, err := DetectCgroupRoot()
	if err != nil {
		requireRuntime(t, "no cgroup2 hierarchy: %v", err)
	}
	if _, err := openHierarchy(root); err != nil {
		t.Fatalf("detected %s, but: %v", root, err)
	}
}

func FuzzFindCgroup2Mount(f *testing.F) {
	files, err := filepath.Glob("testdata/mountinfo/*.txt")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		mnt, err := FindCgroup2Mount(strings.NewReader(s), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") && !strings.Contains(err.Error(), "read fuzz") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if !strings.HasPrefix(mnt, "/") {
			t.Fatalf("mount point %q is not absolute", mnt)
		}
	})
}
