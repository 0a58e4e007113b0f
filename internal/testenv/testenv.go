// Package testenv starts a real Kubernetes control plane (etcd and
// kube-apiserver, run by controller-runtime's envtest) for tests.
//
// The binaries come from the directory named by KUBEBUILDER_ASSETS, which
// hack/envtest.sh builds once per version and prints:
//
//	export KUBEBUILDER_ASSETS="$(hack/envtest.sh)"
//	go test ./...
//
// Without KUBEBUILDER_ASSETS a test that asks for a control plane skips,
// unless MAMORI_REQUIRE_ENVTEST=1 (`make test` sets both), in which case it
// fails: CI never silently skips these tests.
//
// A control plane for one test, stopped when the test ends:
//
//	cfg := testenv.Start(t)
//	c := testenv.Client(t, cfg)
//
// Starting one takes seconds, so a package whose tests can share one declares
// it and runs it from TestMain; it starts on first use and stops after the
// last test:
//
//	var cluster = testenv.NewShared()
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Run(m)) }
//
//	func TestSomething(t *testing.T) { cfg := cluster.Config(t); ... }
//
// Extra kube-apiserver flags (audit logging, feature gates) are options:
//
//	cfg := testenv.Start(t,
//		testenv.APIServerArg("audit-policy-file", policyPath),
//		testenv.APIServerArg("audit-log-path", logPath))
//
// The API server keeps envtest's defaults otherwise: all default admission
// plugins but ServiceAccount, so ValidatingAdmissionPolicy, validating and
// mutating webhooks are on; it listens on 127.0.0.1 and calls webhooks
// wherever their configuration points, including a server on 127.0.0.1 in the
// test process. Policies and webhook configurations take about a second to be
// enforced after they are created.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Environment variables that decide whether and how tests get a control plane.
const (
	// AssetsEnv names the directory holding kube-apiserver and etcd
	// (what hack/envtest.sh prints).
	AssetsEnv = "KUBEBUILDER_ASSETS"
	// RequireEnv, set to 1, turns a missing or failing control plane from a
	// skip into a test failure.
	RequireEnv = "MAMORI_REQUIRE_ENVTEST"
)

// startTimeout bounds each of etcd's and kube-apiserver's start when
// KUBEBUILDER_CONTROLPLANE_START_TIMEOUT does not say otherwise: envtest's
// 20 s default is tight for a race-enabled test run on two busy cores.
const startTimeout = 90 * time.Second

// logTail is how much of the control plane's output is kept to explain a
// failed start.
const logTail = 32 << 10

// Option changes the control plane a test starts.
type Option func(*settings)

type settings struct {
	apiServerArgs []arg
	configure     []func(*envtest.Environment)
}

type arg struct {
	name   string
	values []string
}

// APIServerArg passes --name=value to kube-apiserver, once per value (for
// example APIServerArg("audit-log-path", path)). It replaces envtest's default
// for that flag, if it has one.
func APIServerArg(name string, values ...string) Option {
	return func(s *settings) {
		s.apiServerArgs = append(s.apiServerArgs, arg{name: name, values: values})
	}
}

// Configure lets a test change the envtest.Environment before it starts, for
// what the other options do not cover (WebhookInstallOptions, CRDs).
func Configure(f func(*envtest.Environment)) Option {
	return func(s *settings) { s.configure = append(s.configure, f) }
}

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as a member of system:masters.
	Config *rest.Config
	// Environment is envtest's view of the control plane, for its webhook
	// serving options, users and processes.
	Environment *envtest.Environment
}

// Start starts a control plane for this test and stops it when the test and
// its subtests are done; see the package documentation for when it skips.
func Start(t testing.TB, opts ...Option) *rest.Config {
	t.Helper()
	return StartEnv(t, opts...).Config
}

// StartEnv is Start returning the whole Env.
func StartEnv(t testing.TB, opts ...Option) *Env {
	t.Helper()
	dir, skip, err := assets(os.Getenv(AssetsEnv), os.Getenv(RequireEnv))
	if err != nil {
		t.Fatal(err)
	}
	if skip != "" {
		t.Skip(skip)
	}
	env, err := start(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Environment.Stop(); err != nil {
			t.Errorf("testenv: stopping the control plane: %v", err)
		}
	})
	return env
}

// assets decides from the values of KUBEBUILDER_ASSETS and
// MAMORI_REQUIRE_ENVTEST whether tests may start a control plane: they do
// with the directory returned, skip with the message returned, or fail with
// the error.
func assets(dir, require string) (string, string, error) {
	const howTo = "run `export " + AssetsEnv + "=\"$(hack/envtest.sh)\"` from the repository root to build kube-apiserver and etcd (about 8 minutes the first time, cached after)"
	if dir == "" {
		if require == "1" {
			return "", "", fmt.Errorf("testenv: %s=1 but %s is not set; %s", RequireEnv, AssetsEnv, howTo)
		}
		return "", "testenv: no control plane: " + AssetsEnv + " is not set; " + howTo, nil
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", "", fmt.Errorf("testenv: %s=%s has no %s (%w); %s", AssetsEnv, dir, bin, err, howTo)
		}
	}
	return dir, "", nil
}

// start starts etcd and kube-apiserver from dir.
func start(dir string, opts []Option) (*Env, error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		// Never the cluster of the developer's kubeconfig, whatever
		// USE_EXISTING_CLUSTER says.
		UseExistingCluster: ptr.To(false),
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		env.ControlPlaneStartTimeout = startTimeout
	}

	var out *tailBuffer
	api := env.ControlPlane.GetAPIServer()
	if os.Getenv("KUBEBUILDER_ATTACH_CONTROL_PLANE_OUTPUT") != "true" {
		out = &tailBuffer{max: logTail}
		api.Out, api.Err = out, out
		env.ControlPlane.Etcd = &envtest.Etcd{Out: out, Err: out}
	}
	for _, a := range s.apiServerArgs {
		api.Configure().Set(a.name, a.values...)
	}
	for _, f := range s.configure {
		f(env)
	}

	cfg, err := env.Start()
	if err != nil {
		// envtest stops what it started when the control plane itself fails;
		// stop again for a failure after that (CRDs, webhooks).
		stopErr := env.Stop()
		err = fmt.Errorf("testenv: starting the control plane from %s: %w", dir, errors.Join(err, stopErr))
		if tail := out.String(); tail != "" {
			err = fmt.Errorf("%w\ncontrol plane output (at most the last %d bytes):\n%s", err, logTail, tail)
		}
		return nil, err
	}
	return &Env{Config: cfg, Environment: env}, nil
}

// Client returns a controller-runtime client for cfg that knows client-go's
// built-in types.
func Client(t testing.TB, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatalf("testenv: creating a client: %v", err)
	}
	return c
}

// Clientset returns a client-go clientset for cfg.
func Clientset(t testing.TB, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("testenv: creating a clientset: %v", err)
	}
	return cs
}

// Shared is one control plane for the tests of a package: it starts when a
// test first asks for it and stops when Run's tests are done.
type Shared struct {
	opts []Option

	mu      sync.Mutex
	running bool // inside Run
	tried   bool // a start was attempted
	env     *Env
	skip    string
	err     error
}

// NewShared returns a control plane for a package's tests, started with opts.
// Declare it at package level and call its Run from TestMain.
func NewShared(opts ...Option) *Shared {
	return &Shared{opts: opts}
}

// Run runs the package's tests and then stops the control plane if one
// started. Its result is TestMain's exit code.
func (s *Shared) Run(m *testing.M) int {
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()

	code := m.Run()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	if s.env != nil {
		if err := s.env.Environment.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stopping the shared control plane: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		s.env = nil
	}
	return code
}

// Env returns the shared control plane, starting it on first use. It skips
// or fails t as Start does; a start that failed once fails every later test
// with the same error rather than being retried.
func (s *Shared) Env(t testing.TB) *Env {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		t.Fatal("testenv: Shared used outside its Run; call Run from the package's TestMain")
	}
	if !s.tried {
		s.tried = true
		var dir string
		dir, s.skip, s.err = assets(os.Getenv(AssetsEnv), os.Getenv(RequireEnv))
		if s.err == nil && s.skip == "" {
			s.env, s.err = start(dir, s.opts)
		}
	}
	switch {
	case s.err != nil:
		t.Fatal(s.err)
	case s.skip != "":
		t.Skip(s.skip)
	}
	return s.env
}

// Config returns the shared control plane's admin configuration, starting
// the control plane on first use.
func (s *Shared) Config(t testing.TB) *rest.Config {
	t.Helper()
	return s.Env(t).Config
}

// tailBuffer keeps the last max bytes written to it; the control plane's
// processes write to it concurrently.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*b.max { // trim now and then, not on every write
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) <= b.max {
		return string(b.buf)
	}
	tail := b.buf[len(b.buf)-b.max:]
	if i := bytes.IndexByte(tail, '\n'); i >= 0 {
		tail = tail[i+1:] // start at a whole line
	}
	return string(tail)
}
