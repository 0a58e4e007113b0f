// Command secretgen writes a deterministic source tree with planted
// secrets and realistic noise for benchmarking `mamori scan secret`, and
// compares scanners' JSON reports with what it planted.
//
// Usage:
//
//	secretgen -out DIR [-seed 1] [-files 5000] [-size 100MB] [-secrets 150]
//	secretgen -compare DIR/../planted.json [-root DIR] [-times T] REPORT...
//
// The first form writes the tree into DIR (which must be missing or empty)
// and the ground truth into DIR/../planted.json, outside the scanned tree:
// for each planted secret its file, line span, kind, the first four
// characters of the value and its length, never the value itself; and the
// lines holding placeholders and other noise that a scanner should not
// report. The output depends only on the flags.
//
// The second form reads scanner reports (mamori's JSON object, or gitleaks'
// JSON array; a report may be named NAME=PATH) and prints, per report, how
// many findings there were, how many planted secrets they found, how many
// findings are not on a planted secret's lines, and how many are on
// placeholder lines. T is an optional file of timings, one "NAME WALL_S
// RSS_MB" line per tool, which adds speed and memory columns.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	out := flag.String("out", "", "directory to write the tree into (missing or empty)")
	seed := flag.Int64("seed", 1, "random seed: the same seed gives the same tree")
	files := flag.Int("files", 5000, "number of files to write")
	size := flag.String("size", "100MB", "total size of the tree (KB, MB, GB are powers of 1000; KiB, MiB, GiB of 1024)")
	secrets := flag.Int("secrets", 150, "number of secrets to plant")
	compare := flag.String("compare", "", "ground truth (planted.json) to compare reports with")
	root := flag.String("root", "", "with -compare: the scanned tree, when it moved since it was generated")
	times := flag.String("times", "", "with -compare: timings file, lines of NAME WALL_S RSS_MB")
	verbose := flag.Bool("v", false, "with -compare: list every missed secret and false positive")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: secretgen -out DIR [-seed S] [-files N] [-size SIZE] [-secrets N]\n"+
			"       secretgen -compare planted.json [-root DIR] [-times FILE] [-v] [NAME=]REPORT...\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	switch {
	case *out != "" && *compare == "" && flag.NArg() == 0:
		n, err := parseSize(*size)
		if err != nil {
			fail(err)
		}
		t, err := Generate(Options{Dir: *out, Seed: *seed, Files: *files, Size: n, Secrets: *secrets})
		if err != nil {
			fail(err)
		}
		fmt.Printf("wrote %d files, %.1f MB (%d files, %.1f MB of lock files that scanners skip by default) to %s\n",
			t.Files, float64(t.Bytes)/1e6, t.Skipped.Files, float64(t.Skipped.Bytes)/1e6, *out)
		fmt.Printf("planted %d secrets of %d kinds, %d placeholder and noise lines; truth in %s\n",
			len(t.Planted), len(kindsOf(t.Planted)), len(t.Decoys), TruthPath(*out))
	case *compare != "" && *out == "" && flag.NArg() > 0:
		if err := runCompare(os.Stdout, *compare, *root, *times, *verbose, flag.Args()); err != nil {
			fail(err)
		}
	default:
		flag.Usage()
		os.Exit(2)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "secretgen:", err)
	os.Exit(1)
}

// parseSize parses a byte count such as 100MB, 1.5GiB or 2000000.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	t := strings.TrimSpace(s)
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number of bytes such as 100MB", s)
	}
	return int64(f * mult), nil
}
