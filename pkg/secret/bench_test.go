package secret

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// sourceLike is text shaped like a source tree: code with the words secret
// rules key on (token, secret, password), hashes, UUIDs and base64.
func sourceLike(size int) []byte {
	r := rand.New(rand.NewPCG(11, 12))
	var b strings.Builder
	lines := []func() string{
		func() string { return "\tif err := client.Do(ctx, req); err != nil {" },
		func() string { return "\t\treturn fmt.Errorf(\"fetch token: %w\", err)" },
		func() string { return "\ttoken := auth.NewToken(cfg.Issuer)" },
		func() string {
			return fmt.Sprintf("  sha256: %x", r.Uint64()) + fmt.Sprintf("%x%x%x", r.Uint64(), r.Uint64(), r.Uint64())
		},
		func() string { return "const secretName = \"db-credentials\" // the Secret the operator reads" },
		func() string { return "    password: ${DB_PASSWORD}" },
		func() string {
			return "  id: " + fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff)
		},
		func() string { return "  data: " + randomBase62(r, 76) },
		func() string { return "// Package foo implements the thing that does the work for the other thing." },
		func() string { return "func (s *Server) handle(w http.ResponseWriter, r *http.Request) {" },
	}
	for b.Len() < size {
		b.WriteString(lines[r.IntN(len(lines))]())
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func BenchmarkScan(b *testing.B) {
	e := mustEngine(b)
	data := sourceLike(8 << 20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		e.Scan(data)
	}
}

func BenchmarkKeywords(b *testing.B) {
	e := mustEngine(b)
	data := sourceLike(8 << 20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	n := 0
	for b.Loop() {
		e.keywords.find(data, func(int, int) { n++ })
	}
}

// BenchmarkTree scans the tree hack/bench/secret.sh generates
// (MAMORI_BENCH_TREE), as scan secret does.
func BenchmarkTree(b *testing.B) {
	dir := os.Getenv("MAMORI_BENCH_TREE")
	if dir == "" {
		b.Skip("MAMORI_BENCH_TREE is not set (hack/bench/secret.sh makes the tree)")
	}
	s := NewScanner(mustEngine(b), Options{})
	for b.Loop() {
		if _, err := s.Scan(context.Background(), []string{dir}); err != nil {
			b.Fatal(err)
		}
	}
}
