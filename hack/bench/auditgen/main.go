// Command auditgen appends a realistic mix of audit events (package
// audittest) to a file at a steady rate, rotating it the way the API
// server's log backend does (rename to audit-<time>.log, start a new
// file) once it passes a size. It drives hack/bench/audit-follow.sh.
//
//	go run ./hack/bench/auditgen -out /tmp/audit.log -rate 20000 -for 10m -rotate-mib 100
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit/audittest"
)

func main() {
	out := flag.String("out", "audit.log", "file to append to")
	rate := flag.Int("rate", 20000, "events per second")
	dur := flag.Duration("for", time.Minute, "how long to write")
	rotate := flag.Int64("rotate-mib", 100, "rotate the file when it passes this size (0: never)")
	flag.Parse()
	if err := run(*out, *rate, *dur, *rotate<<20); err != nil {
		fmt.Fprintln(os.Stderr, "auditgen:", err)
		os.Exit(1)
	}
}

func run(out string, rate int, dur time.Duration, rotateAt int64) error {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var size, total int64
	const tick = 50 * time.Millisecond
	perTick := max(1, rate*int(tick)/int(time.Second))
	t := time.NewTicker(tick)
	defer t.Stop()
	end := time.Now().Add(dur)
	prev := ""
	seed := uint64(7)
	for now := range t.C {
		if now.After(end) {
			break
		}
		// Fresh lines stamped now, so the follower's lag metric means
		// something and audit IDs do not repeat.
		seed++
		for _, l := range audittest.Mix(perTick, seed, now) {
			w.Write(l)
			w.WriteByte('\n')
			size += int64(len(l) + 1)
		}
		total += int64(perTick)
		if err := w.Flush(); err != nil {
			return err
		}
		if rotateAt > 0 && size >= rotateAt {
			if err := f.Close(); err != nil {
				return err
			}
			stamp := strings.ReplaceAll(time.Now().UTC().Format("2006-01-02T15-04-05.000"), ":", "-")
			rotated := filepath.Join(filepath.Dir(out), strings.TrimSuffix(filepath.Base(out), ".log")+"-"+stamp+".log")
			if err := os.Rename(out, rotated); err != nil {
				return err
			}
			// Keep the disk bounded: one rotated file is kept, and the
			// follower holds the one before open if it still reads it.
			if prev != "" {
				os.Remove(prev)
			}
			prev = rotated
			if f, err = os.OpenFile(out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
				return err
			}
			w.Reset(f)
			size = 0
		}
	}
	fmt.Fprintf(os.Stderr, "auditgen: wrote %d events\n", total)
	return f.Close()
}
