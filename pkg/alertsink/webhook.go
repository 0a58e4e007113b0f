package alertsink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// WebhookConfig says where and how alerts are POSTed.
type WebhookConfig struct {
	// URL receives a JSON array of alerts per request (http or https).
	URL string
	// MaxBatch bounds the alerts in one request (default 100). Alerts
	// queued while a request is in flight go in the next one; an idle
	// webhook sends each alert at once.
	MaxBatch int
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
	// Retries is how many times a request failing with a connection
	// error, a timeout, 429 or 5xx is retried (default 5; -1 for none).
	Retries int
	// Backoff is the first retry's wait, doubled each retry up to
	// MaxBackoff, with jitter (defaults 500ms and 30s).
	Backoff, MaxBackoff time.Duration
	// BearerToken or BearerTokenFile (read at each request, so a rotated
	// token is picked up) set the Authorization header.
	BearerToken     string
	BearerTokenFile string
	// CAFile holds PEM certificates trusted for an https URL instead of
	// the system's.
	CAFile string
	// Headers are sent with every request.
	Headers map[string]string
	// UserAgent names the sender (default "mamori").
	UserAgent string
}

// Webhook POSTs alerts as JSON arrays.
type Webhook[T any] struct {
	*queue[T]
	cfg    WebhookConfig
	client *http.Client
	stop   context.CancelFunc
}

// NewWebhook checks cfg and starts the sender. Bad configuration (a URL
// that is not http(s), an unreadable CA file) is an error now, not a
// stream of failed deliveries later.
func NewWebhook[T any](cfg WebhookConfig, o Options[T]) (*Webhook[T], error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook URL %q: want http(s)://host/path", cfg.URL)
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 100
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 5
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.BearerToken != "" && cfg.BearerTokenFile != "" {
		return nil, fmt.Errorf("webhook: set a bearer token or a token file, not both")
	}
	if cfg.BearerTokenFile != "" {
		if _, err := readToken(cfg.BearerTokenFile); err != nil {
			return nil, err
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("webhook CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("webhook CA file %s: no PEM certificate in it", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "mamori"
	}
	ctx, stop := context.WithCancel(context.Background())
	w := &Webhook[T]{queue: newQueue("webhook", o), cfg: cfg, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}, stop: stop}
	go w.run(ctx)
	return w, nil
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("webhook bearer token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("webhook bearer token file %s is empty", path)
	}
	return t, nil
}

// Write queues a; it never blocks unless Options.Block says so.
func (w *Webhook[T]) Write(ctx context.Context, a T) error { return w.put(ctx, a) }

// Close sends what is queued, retrying as configured, until ctx ends;
// what is left then is dropped and counted.
func (w *Webhook[T]) Close(ctx context.Context) error {
	err := w.closeSink(ctx, w.stop)
	w.stop()
	w.client.CloseIdleConnections()
	return err
}

func (w *Webhook[T]) run(ctx context.Context) {
	defer close(w.done)
	batch := make([]T, 0, w.cfg.MaxBatch)
	for a := range w.ch {
		batch = append(batch[:0], w.redact(a))
		// Take what else is already waiting, without waiting for more.
	more:
		for len(batch) < w.cfg.MaxBatch {
			select {
			case a, ok := <-w.ch:
				if !ok {
					break more
				}
				batch = append(batch, w.redact(a))
			default:
				break more
			}
		}
		if err := w.send(ctx, batch); err != nil {
			w.drop(len(batch), err.Error())
		}
		clear(batch) // let the alerts go
	}
}

// send POSTs one batch, retrying what may succeed later.
func (w *Webhook[T]) send(ctx context.Context, batch []T) error {
	body, err := json.Marshal(batch)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	wait := w.cfg.Backoff
	for attempt := 0; ; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		if !retry || attempt >= w.cfg.Retries {
			return fmt.Errorf("webhook %s after %d attempts: %w", w.redactedURL(), attempt+1, err)
		}
		w.log.Debug("webhook delivery failed, retrying", "err", err, "attempt", attempt+1, "wait", wait)
		// Full jitter in [wait/2, wait): many agents restarting together
		// do not retry in step.
		d := wait/2 + rand.N(wait/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return fmt.Errorf("webhook %s: closed while retrying: %w", w.redactedURL(), err)
		}
		wait = min(2*wait, w.cfg.MaxBackoff)
	}
}

// post makes one request; retry says whether a failure may pass.
func (w *Webhook[T]) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.cfg.UserAgent)
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	token := w.cfg.BearerToken
	if w.cfg.BearerTokenFile != "" {
		if token, err = readToken(w.cfg.BearerTokenFile); err != nil {
			return true, err // being rotated, perhaps
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	// Read a little of the body: a reason to log, and the connection reused.
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	err = fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, err
}

// redactedURL is the URL without credentials or query, for logs.
func (w *Webhook[T]) redactedURL() string {
	u, err := url.Parse(w.cfg.URL)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}
