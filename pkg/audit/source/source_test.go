package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/audit/audittest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// result is what reading gave, as the golden files hold it.
type result struct {
	Events    []goldenEvent `json:"events"`
	Malformed []string      `json:"malformed"`
	Stats     Stats         `json:"stats"`
}

type goldenEvent struct {
	Pos   string       `json:"pos"`
	Event *audit.Event `json:"event"`
}

func read(t testing.TB, paths []string, o Options) (result, error) {
	t.Helper()
	var res result
	o.OnMalformed = func(m audit.Malformed) { res.Malformed = append(res.Malformed, m.Error()) }
	st, err := Read(context.Background(), paths, o, func(e *audit.Event) error {
		res.Events = append(res.Events, goldenEvent{e.Pos.String(), e})
		return nil
	})
	res.Stats = st
	return res, err
}

func TestReadGolden(t *testing.T) {
	tests := []struct {
		file   string
		format Format
	}{
		{"k8s.jsonl", FormatAuto},
		{"eventlist.json", FormatAuto},
		{"gke.json", FormatAuto},
		{"gke.jsonl", FormatAuto},
		{"eks-filter.json", FormatAuto},
		{"eks-firehose.json", FormatAuto},
		{"eks-s3.log", FormatAuto},
		{"gke.jsonl", FormatGKE},
		{"eks-s3.log", FormatEKS},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(tt.file, filepath.Ext(tt.file))
		t.Run(name+"-"+string(tt.format), func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			res, err := read(t, []string{path}, Options{Format: tt.format})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(res, "", "  ")
			golden := filepath.Join("testdata", "golden", tt.file+".golden")
			if *update && tt.format == FormatAuto {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("read %s differs from %s:\n%s", path, golden, got)
			}
		})
	}
}

// TestReadFacts checks, independently of the golden files, what matters
// most in each format.
func TestReadFacts(t *testing.T) {
	res, _ := read(t, []string{"testdata/k8s.jsonl"}, Options{})
	wantMal := []string{"testdata/k8s.jsonl:3: ", "testdata/k8s.jsonl:5: kind \"Status\" is not an audit Event"}
	if len(res.Events) != 3 || len(res.Malformed) != 2 || !strings.HasPrefix(res.Malformed[0], wantMal[0]) || res.Malformed[1] != wantMal[1] {
		t.Errorf("k8s.jsonl: %d events, malformed %q", len(res.Events), res.Malformed)
	}
	if res.Events[1].Pos != "testdata/k8s.jsonl:4" || res.Stats.Lines != 6 {
		t.Errorf("k8s.jsonl: second event at %s, %d lines", res.Events[1].Pos, res.Stats.Lines)
	}

	res, _ = read(t, []string{"testdata/eventlist.json"}, Options{})
	var pos []string
	for _, e := range res.Events {
		pos = append(pos, e.Pos+" "+e.Event.AuditID)
	}
	if fmt.Sprint(pos) != "[testdata/eventlist.json:6 e1 testdata/eventlist.json:22 e3 testdata/eventlist.json:30 e4]" ||
		len(res.Malformed) != 1 || !strings.HasPrefix(res.Malformed[0], "testdata/eventlist.json:17: ") {
		t.Errorf("eventlist.json: events %v, malformed %q", pos, res.Malformed)
	}

	res, _ = read(t, []string{"testdata/gke.json"}, Options{})
	if len(res.Events) != 2 {
		t.Fatalf("gke.json: %d events", len(res.Events))
	}
	exec, crb := res.Events[0].Event, res.Events[1].Event
	if exec.Verb != "create" || exec.Resource() != "pods/exec" || exec.ObjectRef.Namespace != "shop" || exec.ObjectRef.Name != "web-7d4b9c-x2x9q" ||
		exec.ObjectRef.APIGroup != "" || exec.User.Username != "alice@example.com" || exec.Code() != 200 || exec.SourceIPs[0] != "203.0.113.10" ||
		res.Events[0].Pos != "testdata/gke.json:2" {
		t.Errorf("gke exec: %+v %+v at %s", exec, exec.ObjectRef, res.Events[0].Pos)
	}
	if crb.Code() != 403 || crb.ObjectRef.APIGroup != "rbac.authorization.k8s.io" || crb.Resource() != "clusterrolebindings" ||
		bytes.Contains(crb.RequestObject, []byte("@type")) || !bytes.Contains(crb.RequestObject, []byte("cluster-admin")) ||
		crb.Annotations["authorization.k8s.io/decision"] != "forbid" {
		t.Errorf("gke clusterrolebinding: %+v", crb)
	}

	res, _ = read(t, []string{"testdata/eks-filter.json"}, Options{})
	if len(res.Events) != 2 || res.Stats.Skipped != 1 || len(res.Malformed) != 1 ||
		res.Events[1].Event.AuditID != "f00dbabe-1234-4abc-8def-0123456789ab" || res.Events[1].Pos != "testdata/eks-filter.json:17" {
		t.Errorf("eks-filter.json: %d events, %d skipped, malformed %q", len(res.Events), res.Stats.Skipped, res.Malformed)
	}
	res, _ = read(t, []string{"testdata/eks-firehose.json"}, Options{})
	if len(res.Events) != 1 || res.Stats.Skipped != 2 || len(res.Malformed) != 0 {
		t.Errorf("eks-firehose.json: %d events, %d skipped, malformed %q", len(res.Events), res.Stats.Skipped, res.Malformed)
	}
}

func gzipFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(dst, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadGzip(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"k8s.jsonl", "eks-s3.log", "gke.json", "eks-firehose.json"} {
		// The name says nothing: the magic bytes do.
		gz := filepath.Join(dir, f+".data")
		gzipFile(t, filepath.Join("testdata", f), gz)
		plain, _ := read(t, []string{filepath.Join("testdata", f)}, Options{})
		got, err := read(t, []string{gz}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Events) == 0 || len(got.Events) != len(plain.Events) || got.Stats.Skipped != plain.Stats.Skipped {
			t.Errorf("%s gzipped: %d events, %d skipped; plain %d, %d", f, len(got.Events), got.Stats.Skipped, len(plain.Events), plain.Stats.Skipped)
		}
	}
}

func TestReadStdinAndBadFiles(t *testing.T) {
	data, _ := os.ReadFile("testdata/k8s.jsonl")
	dir := t.TempDir()
	res, err := read(t, []string{"testdata/eks-s3.log", filepath.Join(dir, "missing.log"), dir, "-"}, Options{Stdin: bytes.NewReader(data)})
	if err == nil || !strings.Contains(err.Error(), "missing.log") || !strings.Contains(err.Error(), dir+": is a directory") {
		t.Errorf("error %v, want both the missing file and the directory named", err)
	}
	if len(res.Events) != 5 || res.Events[4].Pos != "-:6" {
		t.Errorf("%d events, the last at %s; want 5, the last at -:6", len(res.Events), res.Events[len(res.Events)-1].Pos)
	}
}

func TestReadStops(t *testing.T) {
	stop := errors.New("enough")
	n := 0
	st, err := Read(context.Background(), []string{"testdata/k8s.jsonl", "testdata/gke.json"}, Options{}, func(*audit.Event) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 || st.Events != 2 {
		t.Errorf("err %v after %d events", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Read(ctx, []string{"testdata/k8s.jsonl"}, Options{}, func(*audit.Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err %v", err)
	}
}

func TestReadLongLine(t *testing.T) {
	long := `{"verb":"` + strings.Repeat("x", 200<<10) + `"}`
	in := `{"verb":"get"}` + "\n" + long + "\n" + `{"verb":"list"}` + "\n"
	res, err := read(t, []string{"-"}, Options{Stdin: strings.NewReader(in), MaxLineSize: 100 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 2 || res.Events[1].Pos != "-:3" || len(res.Malformed) != 1 || res.Malformed[0] != "-:2: line longer than 102400 bytes" {
		t.Errorf("%d events, malformed %q", len(res.Events), res.Malformed)
	}
	// Under the limit, a line longer than the buffer is read whole.
	res, _ = read(t, []string{"-"}, Options{Stdin: strings.NewReader(in)})
	if len(res.Events) != 3 || len(res.Events[1].Event.Verb) != 200<<10 {
		t.Errorf("%d events", len(res.Events))
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": FormatAuto, "auto": FormatAuto, "k8s": FormatK8s, "gke": FormatGKE, "eks": FormatEKS} {
		if f, err := ParseFormat(in); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, f, err)
		}
	}
	if _, err := ParseFormat("aks"); err == nil {
		t.Error("ParseFormat(aks) succeeded")
	}
}

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"audit.log", "audit-2026-11-24T08-00-00.000.log.gz", "audit-2026-11-23T08-00-00.000.log",
		"audit-2026-11-24T09-30-00.000.log", "audit-backup.log", "other-2026-11-24T08-00-00.000.log", "x.txt"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	got, err := Expand([]string{"-", filepath.Join(dir, "audit.log"), filepath.Join(dir, "x.txt")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-", "audit-2026-11-23T08-00-00.000.log", "audit-2026-11-24T08-00-00.000.log.gz", "audit-2026-11-24T09-30-00.000.log", "audit.log", "x.txt"}
	for i := range got {
		if i > 0 {
			got[i] = filepath.Base(got[i])
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Expand = %v, want %v", got, want)
	}
}

func BenchmarkReadK8s(b *testing.B) {
	const n = 100000
	path := filepath.Join(b.TempDir(), "audit.log")
	data := bytes.Join(audittest.Mix(n, 1, time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)), []byte("\n"))
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := Read(context.Background(), []string{path}, Options{}, func(*audit.Event) error { return nil })
		if err != nil || st.Events != n {
			b.Fatal(st, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

func FuzzRead(f *testing.F) {
	for _, name := range []string{"k8s.jsonl", "eventlist.json", "gke.json", "gke.jsonl", "eks-filter.json", "eks-firehose.json", "eks-s3.log"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, malformed := 0, 0
		st, err := Read(context.Background(), []string{"-"}, Options{
			Stdin:       bytes.NewReader(data),
			OnMalformed: func(m audit.Malformed) { malformed++; _ = m.Error() },
			MaxLineSize: 4096,
		}, func(e *audit.Event) error {
			events++
			if e.Pos.File != "-" || e.Pos.Line < 1 || uint64(e.Pos.Line) > st0(data) {
				t.Fatalf("event at %v", e.Pos)
			}
			return nil
		})
		if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
			return // a broken gzip stream may end in an error
		}
		if err != nil {
			t.Fatal(err)
		}
		if st.Events != uint64(events) || st.Malformed != uint64(malformed) || st.Bytes != int64(len(data)) || st.Lines > st0(data) {
			t.Fatalf("stats %+v, saw %d events, %d malformed, %d bytes", st, events, malformed, len(data))
		}
	})
}

// st0 is how many lines data has.
func st0(data []byte) uint64 {
	n := uint64(bytes.Count(data, []byte("\n")))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

// TestReadLargeDocument: a whole-document input past the bound is an
// error naming the file, not an unbounded read.
func TestReadLargeDocument(t *testing.T) {
	// Pretty-printed, so read as a document (a one-line EventList is a
	// line, bounded by MaxLineSize).
	doc := "{\n  \"kind\": \"EventList\",\n  \"apiVersion\": \"audit.k8s.io/v1\",\n  \"items\": [\n" +
		strings.Repeat("    {\"verb\": \"get\", \"auditID\": \"x\"},\n", 1000) + "    {\"verb\": \"list\"}\n  ]\n}\n"
	res, err := read(t, []string{"-"}, Options{Stdin: strings.NewReader(doc), MaxDocumentSize: 4096})
	if err == nil || !strings.Contains(err.Error(), "-") || !strings.Contains(err.Error(), "document larger than 4096 bytes") || len(res.Events) != 0 {
		t.Errorf("err %v, %d events", err, len(res.Events))
	}
	res, err = read(t, []string{"-"}, Options{Stdin: strings.NewReader(doc)})
	if err != nil || len(res.Events) != 1001 {
		t.Errorf("under the default bound: err %v, %d events", err, len(res.Events))
	}
}
