package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/internal/tlsserve"
	"github.com/mamori-dev/mamori/pkg/audit"
)

// clientPKI is a client CA and a client certificate it signed, made for
// the test, as the API server's audit webhook kubeconfig would hold.
type clientPKI struct {
	caPEM, certPEM, keyPEM []byte
	cert                   tls.Certificate
}

func newClientPKI(t testing.TB) *clientPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "audit client CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	p := &clientPKI{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	if p.cert, err = tls.X509KeyPair(p.certPEM, p.keyPEM); err != nil {
		t.Fatal(err)
	}
	return p
}

// served is Serve running on loopback with files written for the test.
type served struct {
	url    string
	ss     *tlsserve.SelfSigned
	cancel context.CancelFunc
	done   chan error
}

func startServe(t testing.TB, h http.Handler, clientCA []byte) *served {
	t.Helper()
	dir := t.TempDir()
	ss, err := tlsserve.NewSelfSigned([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tc := TLSConfig{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	write := func(name string, b []byte) {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(tc.CertFile, ss.CertPEM)
	write(tc.KeyFile, ss.KeyPEM)
	if clientCA != nil {
		tc.ClientCAFile = filepath.Join(dir, "client-ca.crt")
		write(tc.ClientCAFile, clientCA)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{url: "https://" + ln.Addr().String(), ss: ss, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- Serve(ctx, ln, h, tc) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

func (s *served) client(cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.ss.CAPEM)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func TestServeClientCertificates(t *testing.T) {
	pki := newClientPKI(t)
	other := newClientPKI(t)
	q := NewQueue(10)
	s := startServe(t, Handler(Config{Queue: q}), pki.caPEM)
	post := func(c *http.Client) (int, error) {
		resp, err := c.Post(s.url+"/", "application/json", strings.NewReader(string(readTestdata(t, "eventlist.json"))))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if code, err := post(s.client(nil)); err == nil {
		t.Errorf("a client without a certificate was served (%d)", code)
	}
	if code, err := post(s.client(&other.cert)); err == nil {
		t.Errorf("a client with a certificate of another CA was served (%d)", code)
	}
	if code, err := post(s.client(&pki.cert)); err != nil || code != 200 {
		t.Fatalf("client with a certificate: %d %v", code, err)
	}
	if q.Len() != 3 {
		t.Errorf("queued %d, want 3", q.Len())
	}
	// Only TLS 1.2 and later.
	old := s.client(&pki.cert)
	old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS11
	if _, err := post(old); err == nil {
		t.Error("TLS 1.1 accepted")
	}
}

func TestServeWithoutClientCA(t *testing.T) {
	q := NewQueue(10)
	s := startServe(t, Handler(Config{Queue: q}), nil)
	resp, err := s.client(nil).Get(s.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestServeConfigErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	ss, _ := tlsserve.NewSelfSigned([]string{"127.0.0.1"}, time.Hour)
	cert, key, ca := filepath.Join(dir, "c"), filepath.Join(dir, "k"), filepath.Join(dir, "ca")
	os.WriteFile(cert, ss.CertPEM, 0o600)
	os.WriteFile(key, ss.KeyPEM, 0o600)
	os.WriteFile(ca, []byte("not PEM"), 0o600)
	for _, tc := range []struct {
		name string
		cfg  TLSConfig
		want string
	}{
		{"no certificate", TLSConfig{}, "certificate and key are required"},
		{"missing file", TLSConfig{CertFile: cert, KeyFile: filepath.Join(dir, "nope")}, "TLS key"},
		{"bad client CA", TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: ca}, "no PEM certificate"},
	} {
		err := Serve(context.Background(), ln, http.NotFoundHandler(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// On shutdown a request waiting for room finishes (here: is queued once
// the consumer frees room), Serve returns, and the queue keeps its events
// for the consumer to drain after Close.
func TestServeGracefulShutdown(t *testing.T) {
	q := NewQueue(4)
	prefill(t, q, 3)
	s := startServe(t, Handler(Config{Queue: q, QueueWait: time.Minute}), nil)
	c := s.client(nil)
	codes := make(chan int, 1)
	go func() {
		resp, err := c.Post(s.url+"/audit", "application/json", strings.NewReader(string(readTestdata(t, "eventlist.json"))))
		if err != nil {
			codes <- 0
			return
		}
		resp.Body.Close()
		codes <- resp.StatusCode
	}()
	waitWaiters(t, q, 1)
	s.cancel()
	// Serve stops accepting but waits for the request in flight.
	select {
	case err := <-s.done:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	for range 1000 { // the listener closes at once
		if _, err := net.Dial("tcp", strings.TrimPrefix(s.url, "https://")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(s.url, "https://")); err == nil {
		t.Error("new connections accepted after shutdown began")
	}
	buf := make([]*audit.Event, 2)
	if _, err := q.Drain(context.Background(), buf); err != nil {
		t.Fatal(err)
	}
	if code := <-codes; code != 200 {
		t.Fatalf("in-flight request answered %d, want 200", code)
	}
	if err := <-s.done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	s.done <- nil // for the cleanup
	q.Close()
	if got := ids(drainAll(t, q)); got != "p2,a1,a2,a3" {
		t.Fatalf("left for the consumer: %q", got)
	}
}
