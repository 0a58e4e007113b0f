package enrich

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
)

// requireRuntime skips t for a missing privilege or kernel feature, or
// fails it when MAMORI_REQUIRE_RUNTIME=1 (as CI sets).
func requireRuntime(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("MAMORI_REQUIRE_RUNTIME") == "1" {
		t.Fatal(msg + " (MAMORI_REQUIRE_RUNTIME=1)")
	}
	t.Skip(msg)
}

// randHex returns n random bytes as hex digits.
func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// randUID returns a random pod UID.
func randUID(t testing.TB) string {
	h := randHex(t, 16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
