package imagepolicy

import (
	"context"
	"testing"
	"time"
)

// TestGroupCallOutlivesFirstCaller: the shared call runs on the group's
// budget, so a first caller with a short deadline does not fail a second
// one that came with more time (review finding).
func TestGroupCallOutlivesFirstCaller(t *testing.T) {
	g := &group[int]{timeout: time.Minute}
	release := make(chan struct{})
	started := make(chan struct{})
	fn := func(ctx context.Context) (int, error) {
		close(started)
		select {
		case <-release:
			return 7, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	first := make(chan error, 1)
	go func() { _, err := g.do(short, "k", fn); first <- err }()
	<-started
	second := make(chan int, 1)
	go func() {
		v, err := g.do(context.Background(), "k", fn)
		if err != nil {
			t.Errorf("second caller: %v", err)
		}
		second <- v
	}()
	if err := <-first; err == nil {
		t.Error("the first caller's deadline did not end its wait")
	}
	for g.callers("k") != 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if v := <-second; v != 7 {
		t.Errorf("second caller got %d", v)
	}
}
