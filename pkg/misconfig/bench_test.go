package misconfig

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/mamori-dev/mamori/hack/genmanifests/gen"
	"github.com/mamori-dev/mamori/pkg/dockerfile"
	"github.com/mamori-dev/mamori/pkg/secret"
)

// BenchmarkScan10k scans 10,000 generated workloads in 1,000 files with
// every check, the target (< 1 s wall, < 300 MB peak on 2 cores).
// Run: make bench (or go test -run '^$' -bench Scan10k ./pkg/misconfig/).
func BenchmarkScan10k(b *testing.B) {
	dir := b.TempDir()
	if err := gen.Write(dir, 10000, 1000, 1); err != nil {
		b.Fatal(err)
	}
	// As `mamori scan config` runs: with the secret and Dockerfile checks.
	eng, err := secret.New(secret.Builtin())
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Secrets: eng, Dockerfiles: dockerfile.New(dockerfile.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	var findings, objects int
	b.ResetTimer()
	for b.Loop() {
		rep, err := s.Scan(context.Background(), []string{dir})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Errors) > 0 {
			b.Fatalf("input errors: %v", rep.Errors[0])
		}
		findings, objects = len(rep.Findings), rep.Objects
	}
	b.ReportMetric(float64(objects), "objects")
	b.ReportMetric(float64(findings), "findings")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

// BenchmarkScanFile measures one file of ten workloads: the per-file cost
// that the worker pool spreads over the cores.
func BenchmarkScanFile(b *testing.B) {
	data := gen.Generate(0, 10, 1)
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s.ScanFile("f.yaml", data)
	}
}

// TestScanDeterministic scans the same generated tree with one and many
// workers: the reports must be identical.
func TestScanDeterministic(t *testing.T) {
	dir := t.TempDir()
	if err := gen.Write(dir, 300, 30, 7); err != nil {
		t.Fatal(err)
	}
	var reports [][]byte
	for _, workers := range []int{1, 4} {
		s, err := New(Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := s.Scan(context.Background(), []string{dir})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Objects != 300 || len(rep.Errors) != 0 || len(rep.Findings) == 0 {
			t.Fatalf("objects %d, errors %v, findings %d", rep.Objects, rep.Errors, len(rep.Findings))
		}
		var b []byte
		for _, f := range rep.Findings {
			b = append(b, f.Location.String()+" "+f.CheckID()+" "+f.Fingerprint+"\n"...)
		}
		reports = append(reports, b)
	}
	if string(reports[0]) != string(reports[1]) {
		t.Error("reports differ between 1 and 4 workers")
	}
	_ = os.RemoveAll(dir)
}
