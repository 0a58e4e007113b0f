package advise

import (
	stdcontext "context"
	"testing"
	"time"
)

func context(t *testing.T, d time.Duration) (stdcontext.Context, stdcontext.CancelFunc) {
	return stdcontext.WithTimeout(t.Context(), d)
}
