package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// follow runs Follow on path and sends the audit IDs of what it reads.
func follow(t *testing.T, path string, o FollowOptions) (<-chan string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ids := make(chan string, 1000)
	done := make(chan error, 1)
	if o.PollInterval == 0 {
		o.PollInterval = 5 * time.Millisecond
	}
	go func() {
		_, err := Follow(ctx, path, o, func(e *audit.Event) error {
			ids <- fmt.Sprintf("%s@%d", e.AuditID, e.Pos.Line)
			return nil
		})
		done <- err
	}()
	t.Cleanup(cancel)
	return ids, cancel, done
}

func expect(t *testing.T, ids <-chan string, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-ids:
			if got != w {
				t.Fatalf("read %s, want %s", got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event; want %s", w)
		}
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func ev(id string) string { return `{"kind":"Event","auditID":"` + id + `","verb":"get"}` + "\n" }

func TestFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	appendTo(t, path, ev("old"))
	rotated := make(chan string, 4)
	ids, cancel, done := follow(t, path, FollowOptions{OnRotate: func(old, _ string) { rotated <- old }})

	// The marker tells when Follow has reached the end: it starts there.
	for i := 0; ; i++ {
		appendTo(t, path, ev(fmt.Sprint("m", i)))
		select {
		case <-ids:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	appendTo(t, path, ev("a"))
	line := 0
	got := <-ids
	if _, err := fmt.Sscanf(got, "a@%d", &line); err != nil {
		t.Fatalf("read %s, want a", got)
	}
	// A partial line waits for its newline.
	appendTo(t, path, `{"auditID":"b",`)
	appendTo(t, path, `"verb":"get"}`+"\n")
	expect(t, ids, fmt.Sprint("b@", line+1))

	// Rotation: rename, the old file gets a last line, a new file starts.
	appendTo(t, path, `{"auditID":"c"}`) // no newline: the end of the old file
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, ev("d"))
	expect(t, ids, fmt.Sprint("c@", line+2), "d@1")
	if old := <-rotated; old != path+".1" {
		t.Errorf("OnRotate old = %q", old)
	}

	// Truncation (copytruncate): back to 0.
	appendTo(t, path, ev("e"))
	expect(t, ids, "e@2")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, ev("f"))
	expect(t, ids, "f@1")

	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Follow returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return when ctx ended")
	}
}

func TestFollowFromStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	appendTo(t, path, ev("x")+"not json\n"+ev("y"))
	ids, _, _ := follow(t, path, FollowOptions{FromStart: true})
	expect(t, ids, "x@1", "y@3")
}

// TestFollowMemory appends 200k lines and checks that the heap does not
// grow with them.
func TestFollowMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 200k lines")
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	appendTo(t, path, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 200000
	seen := make(chan struct{})
	count := 0
	go Follow(ctx, path, FollowOptions{FromStart: true, PollInterval: time.Millisecond}, func(e *audit.Event) error {
		count++
		if count == n {
			close(seen)
		}
		return nil
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(ev("0123456789abcdef0123456789abcdef"))
	for i := 0; i < n; i++ {
		f.Write(line)
	}
	f.Close()
	select {
	case <-seen:
	case <-time.After(60 * time.Second):
		t.Fatalf("read %d of %d events", count, n)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 16<<20 {
		t.Errorf("heap grew by %d bytes over %d lines", grew, n)
	}
}
