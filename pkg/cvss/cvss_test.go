package cvss

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

type vector struct {
	line   int
	vector string
	score  float64
	rating string
	note   string
}

func readVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 4 {
			t.Fatalf("testdata/vectors.txt:%d: want 4 tab-separated columns, got %d", n, len(cols))
		}
		s, err := strconv.ParseFloat(cols[1], 64)
		if err != nil {
			t.Fatalf("testdata/vectors.txt:%d: %v", n, err)
		}
		out = append(out, vector{n, cols[0], s, cols[2], cols[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestScoreKnownVectors(t *testing.T) {
	vs := readVectors(t)
	if len(vs) < 30 {
		t.Fatalf("only %d vectors read", len(vs))
	}
	for _, v := range vs {
		got, err := Score(v.vector)
		if err != nil {
			t.Errorf("line %d %s (%s): %v", v.line, v.vector, v.note, err)
			continue
		}
		if got.Score != v.score || got.Rating != v.rating {
			t.Errorf("line %d %s (%s): got %.1f %s, want %.1f %s", v.line, v.vector, v.note, got.Score, got.Rating, v.score, v.rating)
		}
		want := map[string]string{"CVSS:3.1": V31, "CVSS:3.0": V30, "CVSS:4.0": V40}[v.vector[:min(8, len(v.vector))]]
		if want == "" {
			want = V2
		}
		if got.Version != want {
			t.Errorf("line %d %s: version %q, want %q", v.line, v.vector, got.Version, want)
		}
	}
}

func TestScoreMalformed(t *testing.T) {
	for _, tc := range []struct{ name, vector, want string }{
		{"empty", "", "not a v2 vector"},
		{"unknown version", "CVSS:5.0/AV:N", "unknown version prefix"},
		{"v3 missing metric", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"},
		{"v3 bad value", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "AV:X"},
		{"v3 repeated metric", "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "malformed"},
		{"v4 missing metric", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N", "CVSS:4.0"},
		{"v4 bad value", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:Q", "SA:Q"},
		{"v4 out of order", "CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "malformed"},
		{"v2 truncated", "AV:N/AC:L/Au:N/C:P", "AV:N/AC:L/Au:N/C:P"},
		{"v2 bad value", "AV:N/AC:L/Au:Z/C:P/I:P/A:P", "Au:Z"},
		{"garbage", "high", "not a v2 vector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Score(tc.vector)
			if err == nil {
				t.Fatalf("Score(%q) = %+v, want an error", tc.vector, r)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestRatingBoundaries(t *testing.T) {
	for _, tc := range []struct {
		s    float64
		want string
	}{{0, None}, {0.1, Low}, {3.9, Low}, {4.0, Medium}, {6.9, Medium}, {7.0, High}, {8.9, High}, {9.0, Critical}, {10, Critical}} {
		if got := rating(tc.s); got != tc.want {
			t.Errorf("rating(%.1f) = %s, want %s", tc.s, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s    float64
		want string
	}{{0, Low}, {3.9, Low}, {4.0, Medium}, {6.9, Medium}, {7.0, High}, {10, High}} {
		if got := ratingV2(tc.s); got != tc.want {
			t.Errorf("ratingV2(%.1f) = %s, want %s", tc.s, got, tc.want)
		}
	}
}

func BenchmarkScore(b *testing.B) {
	vs := readVectors(b)
	b.ResetTimer()
	for b.Loop() {
		for _, v := range vs {
			if _, err := Score(v.vector); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(vs)), "ns/vector")
}

func FuzzScore(f *testing.F) {
	for _, v := range readVectors(f) {
		f.Add(v.vector)
	}
	f.Add("CVSS:4.0/AV:N")
	f.Fuzz(func(t *testing.T, vector string) {
		r, err := Score(vector)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if r.Score < 0 || r.Score > 10 {
			t.Fatalf("Score(%q) = %v, out of 0–10", vector, r.Score)
		}
		if r.Rating == "" || r.Version == "" {
			t.Fatalf("Score(%q) = %+v: empty rating or version", vector, r)
		}
	})
}
