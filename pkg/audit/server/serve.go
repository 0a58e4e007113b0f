package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mamori-dev/mamori/internal/tlsserve"
)

// ShutdownGrace is how long Serve lets in-flight requests finish once its
// context ends: longer than the default QueueWait, so a request waiting
// for room gets its answer.
const ShutdownGrace = 30 * time.Second

// TLSConfig is the endpoint's TLS, as for the admission webhook: the
// certificate and key files are reloaded when they change.
type TLSConfig struct {
	CertFile, KeyFile string
	// ClientCAFile, if set, makes clients present a certificate signed by
	// one of its CAs (the client-certificate of the API server's
	// --audit-webhook-config-file kubeconfig).
	ClientCAFile string
	// ReloadInterval is how often the files are checked (default 10s).
	ReloadInterval time.Duration
	// Logger logs certificate reloads and server errors.
	Logger *slog.Logger
}

// Serve serves h over TLS on ln until ctx ends, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish (within
// ShutdownGrace) and returns. The queue is left as it is, for the consumer
// to drain after Close.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, tc TLSConfig) error {
	if tc.CertFile == "" || tc.KeyFile == "" {
		return errors.New("audit webhook: a TLS certificate and key are required")
	}
	certs, err := tlsserve.NewCertReloader(tc.CertFile, tc.KeyFile, tc.Logger)
	if err != nil {
		return fmt.Errorf("audit webhook: %w", err)
	}
	cfg := tlsserve.Config(certs.GetCertificate)
	if tc.ClientCAFile != "" {
		if err := tlsserve.RequireClientCerts(cfg, tc.ClientCAFile); err != nil {
			return fmt.Errorf("audit webhook: %w", err)
		}
	}
	interval := tc.ReloadInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	wctx, stop := context.WithCancel(context.Background())
	defer stop()
	go certs.Watch(wctx, interval)
	return tlsserve.Serve(ctx, ln, h, cfg, ShutdownGrace, tc.Logger)
}
