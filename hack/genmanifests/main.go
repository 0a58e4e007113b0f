// Command genmanifests writes a large, varied set of Kubernetes workload
// manifests for benchmarking and load-testing `mamori scan config`.
//
// Usage:
//
//	go run ./hack/genmanifests -n 10000 -files 1000 -seed 1 -out DIR
//
// It writes n objects spread evenly over files multi-document YAML files
// named w0000.yaml, w0001.yaml, ... in DIR. The output depends only on n,
// files and seed. The objects are described in package gen, which
// benchmarks can call directly.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mamori-dev/mamori/hack/genmanifests/gen"
)

func main() {
	n := flag.Int("n", 10000, "number of objects to write")
	files := flag.Int("files", 1000, "number of files to spread the objects over")
	seed := flag.Int64("seed", 1, "random seed: the same seed gives the same manifests")
	out := flag.String("out", "", "directory to write into (created if missing)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: genmanifests [-n N] [-files F] [-seed S] -out DIR\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := gen.Write(*out, *n, *files, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "genmanifests:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d objects in %d files to %s\n", *n, *files, *out)
}
