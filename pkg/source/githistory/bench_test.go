package githistory

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// BenchmarkWalk walks a generated repository of 500 commits, each
// changing 3 of 50 files (a changed line and 40 added lines of about 60
// bytes in each), with a merge every 50 commits.
func BenchmarkWalk(b *testing.B) {
	r := newRepo(b)
	fastImport(b, r, 500)
	var changes, size int64
	for b.Loop() {
		changes, size = 0, 0
		err := Walk(context.Background(), r.dir, Options{}, func(c Change) error {
			changes++
			for _, h := range c.Hunks {
				size += int64(len(h.Text))
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ReportMetric(float64(changes)*float64(b.N)/b.Elapsed().Seconds(), "changes/s")
	b.ReportMetric(float64(changes), "changes/op")
}

// fastImport writes n commits with git fast-import, the quickest way to
// build a long history.
func fastImport(b *testing.B, r *testRepo, n int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	files := make([][]string, 50)
	var s bytes.Buffer
	data := func(str string) { fmt.Fprintf(&s, "data %d\n%s\n", len(str), str) }
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&s, "commit refs/heads/main\nmark :%d\n", i)
		fmt.Fprintf(&s, "author Ann Author <ann@example.com> %d +0200\ncommitter Ann Author <ann@example.com> %d +0200\n", 1700000000+i*60, 1700000000+i*60)
		data(fmt.Sprintf("commit %d", i))
		if i > 1 {
			fmt.Fprintf(&s, "from :%d\n", i-1)
		}
		for range 3 {
			f := rng.IntN(len(files))
			if len(files[f]) > 0 {
				files[f][rng.IntN(len(files[f]))] = fmt.Sprintf("changed line %d value=%x", i, rng.Uint64())
			}
			for range 40 {
				files[f] = append(files[f], fmt.Sprintf("key_%d_%d = \"%016x%016x\" # some words", i, rng.IntN(1000), rng.Uint64(), rng.Uint64()))
			}
			fmt.Fprintf(&s, "M 100644 inline dir%d/file%d.txt\n", f%7, f)
			data(strings.Join(files[f], "\n") + "\n")
		}
		s.WriteString("\n")
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env = r.dir, gitEnv(r.dir)
	cmd.Stdin = &s
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, out)
	}
	r.git("reset", "-q", "--hard", "main")
}

// BenchmarkParse measures the parser alone on the same history's log,
// to tell its cost from git's.
func BenchmarkParse(b *testing.B) {
	r := newRepo(b)
	fastImport(b, r, 500)
	cmd := exec.Command("git", logArgs("HEAD")...)
	cmd.Dir, cmd.Env = r.dir, gitEnv(r.dir)
	out, err := cmd.Output()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	for b.Loop() {
		if err := parse(bytes.NewReader(out), -1, func(Change) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
