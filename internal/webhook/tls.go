package webhook

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mamori-dev/mamori/internal/tlsserve"
)

// The TLS serving of the webhook is shared with the audit webhook backend
// (pkg/audit/server); these names keep the webhook's API.

// CertReloader serves a certificate from files and reloads it when they change.
type CertReloader = tlsserve.CertReloader

// SelfSigned is a throwaway CA and a serving certificate it signed.
type SelfSigned = tlsserve.SelfSigned

// NewCertReloader loads the pair; an error here is fatal to start-up.
func NewCertReloader(certFile, keyFile string, log *slog.Logger) (*CertReloader, error) {
	return tlsserve.NewCertReloader(certFile, keyFile, log)
}

// NewSelfSigned makes a CA and a serving certificate for the hosts.
func NewSelfSigned(hosts []string, validFor time.Duration) (*SelfSigned, error) {
	return tlsserve.NewSelfSigned(hosts, validFor)
}

// TLSConfig is the server's TLS configuration: TLS 1.2 at least, the
// certificate from get.
func TLSConfig(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return tlsserve.Config(get)
}

// Serve serves h over TLS on the listener until ctx ends, then shuts down
// gracefully within grace.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, cfg *tls.Config, grace time.Duration, log *slog.Logger) error {
	return tlsserve.Serve(ctx, ln, h, cfg, grace, log)
}
