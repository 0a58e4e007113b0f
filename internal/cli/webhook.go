package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/internal/webhook"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/imagepolicy"
	"github.com/mamori-dev/mamori/pkg/imagesig"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/policy"
)

type webhookFlags struct {
	listen, certFile, keyFile     string
	selfSigned                    bool
	selfSignedHosts               []string
	selfSignedCAOut               string
	policies, ignoreFiles         []string
	pssLevel, pssVersion          string
	builtin                       bool
	builtinMode, enforceSeverity  string
	kubeconfig                    string
	noCluster                     bool
	logFormat                     string
	reloadInterval, shutdownGrace time.Duration
	pprofAddr                     string
	registryTimeout               time.Duration
	imageCacheSize                int
}

func newWebhook(stdio IO) *cobra.Command {
	var fl webhookFlags
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve the admission webhook (HTTPS: /validate, /mutate, /healthz, /readyz, /metrics)",
		Long: `The webhook judges admission requests with the built-in checks, Pod Security
Standards, CEL policies (each with its mode: enforce denies, warn returns
warnings, audit adds audit annotations) and exceptions, exactly as
'mamori scan config' judges manifests. Built-in findings at or above
--enforce-severity follow --builtin-mode; those below warn.

ImageVerificationPolicy documents in the --policy paths (beside Policy
documents) have the images of pods, of workloads' pod templates and of
ephemeral containers verified: signatures and attestations, by key or
keyless identity. A denial follows the policy's mode and its exceptions like
any other check; a registry that cannot be read within --registry-timeout
follows the policy's failurePolicy. Verdicts are cached by digest
(--image-cache-size). On UPDATE only images the object did not already run
are verified. /mutate pins the verified tags of policies with mutateDigest to
their digests (see 'mamori webhook manifest --mutate').

Registry credentials come from the Docker config: $DOCKER_CONFIG/config.json
(default ~/.docker/config.json) and the credential helpers it names; in a
pod, mount a kubernetes.io/dockerconfigjson Secret as config.json and set
DOCKER_CONFIG to its directory (the Helm chart's
imageVerification.dockerConfigSecret does).`,
		Example: `  mamori webhook --tls-cert-file /tls/tls.crt --tls-key-file /tls/tls.key --policy /policies
  mamori webhook --self-signed --self-signed-ca-out ca.pem --no-cluster --policy policies/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runWebhook(cmd.Context(), stdio, &fl) },
	}
	f := cmd.Flags()
	f.StringVar(&fl.listen, "listen", ":8443", "address to serve HTTPS on")
	f.StringVar(&fl.certFile, "tls-cert-file", "", "serving certificate (PEM); reloaded when it changes")
	f.StringVar(&fl.keyFile, "tls-key-file", "", "serving key (PEM); reloaded when it changes")
	f.BoolVar(&fl.selfSigned, "self-signed", false, "serve a throwaway self-signed certificate (local use and tests)")
	f.StringSliceVar(&fl.selfSignedHosts, "self-signed-host", []string{"localhost", "127.0.0.1"}, "names and addresses the self-signed certificate is for")
	f.StringVar(&fl.selfSignedCAOut, "self-signed-ca-out", "", "write the self-signed CA (the caBundle) to this file")
	f.StringArrayVar(&fl.policies, "policy", nil, "file or directory of mamori CEL policies (repeatable)")
	f.StringArrayVar(&fl.ignoreFiles, "ignorefile", nil, "exception file (repeatable); entries are judged on each request's day")
	f.StringVar(&fl.pssLevel, "pss-level", "restricted", "Pod Security Standards level: baseline or restricted")
	f.StringVar(&fl.pssVersion, "pss-version", "latest", "Pod Security Standards version")
	f.BoolVar(&fl.builtin, "builtin", true, "judge with the built-in checks and Pod Security Standards")
	f.StringVar(&fl.builtinMode, "builtin-mode", "enforce", "what built-in findings at or above --enforce-severity do: enforce, warn or audit")
	f.StringVar(&fl.enforceSeverity, "enforce-severity", "HIGH", "lowest severity of a built-in finding that --builtin-mode applies to; lower ones warn")
	f.StringVar(&fl.kubeconfig, "kubeconfig", "", "kubeconfig for namespace and service account lookups (default: in-cluster, then $KUBECONFIG)")
	f.BoolVar(&fl.noCluster, "no-cluster", false, "run without the API server: namespaces have only their name label, service accounts are unknown")
	f.StringVar(&fl.logFormat, "log-format", "text", "log format: text or json")
	f.DurationVar(&fl.reloadInterval, "tls-reload-interval", 10*time.Second, "how often to check the certificate files for changes")
	f.DurationVar(&fl.shutdownGrace, "shutdown-grace", 10*time.Second, "how long to finish in-flight requests on SIGTERM")
	f.StringVar(&fl.pprofAddr, "pprof-addr", "", "serve Go's /debug/pprof on this address, plain HTTP (e.g. 127.0.0.1:6060; off by default)")
	f.DurationVar(&fl.registryTimeout, "registry-timeout", imagepolicy.DefaultTimeout, "how long verifying one image may take (resolve, fetch, verify); keep it below the webhook configurations' timeoutSeconds")
	f.IntVar(&fl.imageCacheSize, "image-cache-size", imagepolicy.DefaultCacheSize, "image verdicts (and tag resolutions) kept in memory")
	cmd.AddCommand(newWebhookManifest(stdio))
	return cmd
}

func runWebhook(ctx context.Context, stdio IO, fl *webhookFlags) error {
	var log *slog.Logger
	switch fl.logFormat {
	case "json":
		log = slog.New(slog.NewJSONHandler(stdio.Err, nil))
	case "text":
		log = slog.New(slog.NewTextHandler(stdio.Err, nil))
	default:
		return fmt.Errorf("--log-format %q: want text or json", fl.logFormat)
	}
	// A server's heap is small and steady: no fixed 210 MiB limit as the
	// scan sets, but the deployment's GOMEMLIMIT (the chart sets it from
	// the container's memory limit).
	if os.Getenv("GOGC") == "" {
		// A quarter less CPU per request than Go's default of 100
		// (BenchmarkReview50); the chart's GOMEMLIMIT bounds the heap.
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(math.MaxInt64)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, imageSet, err := webhookConfig(ctx, fl)
	if err != nil {
		return err
	}
	cfg.Log = log
	var getCert *webhook.CertReloader
	var tlsCfg = webhook.TLSConfig(nil)
	switch {
	case fl.selfSigned && (fl.certFile != "" || fl.keyFile != ""):
		return fmt.Errorf("--self-signed and --tls-cert-file/--tls-key-file exclude each other")
	case fl.selfSigned:
		ss, err := webhook.NewSelfSigned(fl.selfSignedHosts, 365*24*time.Hour)
		if err != nil {
			return err
		}
		if fl.selfSignedCAOut != "" {
			if err := os.WriteFile(fl.selfSignedCAOut, ss.CAPEM, 0o644); err != nil {
				return fmt.Errorf("--self-signed-ca-out: %w", err)
			}
		}
		tlsCfg.Certificates = []tls.Certificate{ss.Cert}
		tlsCfg.GetCertificate = nil
	case fl.certFile == "" || fl.keyFile == "":
		return fmt.Errorf("name --tls-cert-file and --tls-key-file, or use --self-signed")
	default:
		getCert, err = webhook.NewCertReloader(fl.certFile, fl.keyFile, log)
		if err != nil {
			return err
		}
		tlsCfg.GetCertificate = getCert.GetCertificate
		go getCert.Watch(ctx, fl.reloadInterval)
	}
	// Cluster lookups: namespaces for namespaceSelector and namespaceObject,
	// service accounts for token automounting.
	h, sync, err := clusterLookups(ctx, fl, &cfg, log)
	if err != nil {
		return err
	}
	handler := webhook.New(cfg)
	if fl.pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Addr: fl.pprofAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { log.Warn("pprof server stopped", "err", srv.ListenAndServe()) }()
		go func() { <-ctx.Done(); srv.Close() }()
	}
	ln, err := net.Listen("tcp", fl.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	imagePolicies := 0
	if cfg.Images != nil {
		imagePolicies = len(imageSet.Policies)
	}
	log.Info("mamori webhook serving", "addr", ln.Addr().String(), "policies", len(cfg.Policies.Policies), "imagePolicies", imagePolicies,
		"builtin", fl.builtin, "cluster", h)
	go func() {
		if sync != nil && !sync(ctx) {
			return
		}
		handler.SetReady()
		log.Info("ready")
	}()
	return webhook.Serve(ctx, ln, handler, tlsCfg, fl.shutdownGrace, log)
}

// webhookConfig loads what the webhook judges with, and the image
// policies its engine holds.
func webhookConfig(ctx context.Context, fl *webhookFlags) (webhook.Config, *imagepolicy.Set, error) {
	var cfg webhook.Config
	if fl.registryTimeout <= 0 {
		return cfg, nil, fmt.Errorf("--registry-timeout %s: want a positive duration", fl.registryTimeout)
	}
	if fl.imageCacheSize <= 0 {
		return cfg, nil, fmt.Errorf("--image-cache-size %d: want a positive number", fl.imageCacheSize)
	}
	set, imageSet, problems, err := loadBothPolicies(ctx, fl.policies)
	if err != nil {
		return cfg, nil, err
	}
	exc, errs, err := loadIgnoreFiles(fl.ignoreFiles)
	if err != nil {
		return cfg, nil, err
	}
	problems = append(problems, errs...)
	if len(problems) > 0 {
		// A webhook that silently drops a broken policy lets through what
		// it should stop: refuse to start.
		msg := ""
		for _, p := range problems {
			msg += "\n  " + p.String()
		}
		return cfg, nil, fmt.Errorf("policies or exceptions do not load:%s", msg)
	}
	cfg.Policies, cfg.Exceptions = set, exc
	if len(imageSet.Policies) > 0 {
		// Credentials: the default keychain reads $DOCKER_CONFIG/config.json
		// and its credential helpers.
		cfg.Images = imagepolicy.NewEngine(imageSet, imagepolicy.Options{
			Client:  imagesig.NewClient(imagesig.ClientOptions{}),
			Timeout: fl.registryTimeout, CacheSize: fl.imageCacheSize,
		})
	}
	if fl.builtin {
		cfg.Scanner, err = misconfig.New(misconfig.Options{PSSLevel: fl.pssLevel, PSSVersion: fl.pssVersion})
		if err != nil {
			return cfg, nil, err
		}
	}
	switch m := policy.Mode(fl.builtinMode); m {
	case policy.Enforce, policy.Warn, policy.Audit:
		cfg.BuiltinMode = m
	default:
		return cfg, nil, fmt.Errorf("--builtin-mode %q: want enforce, warn or audit", fl.builtinMode)
	}
	cfg.EnforceSeverity, err = finding.ParseSeverity(fl.enforceSeverity)
	if err != nil {
		return cfg, nil, fmt.Errorf("--enforce-severity: %w", err)
	}
	return cfg, imageSet, nil
}

// loadBothPolicies loads the Policy and the ImageVerificationPolicy
// documents of the same paths. A file both loaders cannot read is reported
// once, and a name used by both kinds is a problem: findings, exceptions
// and modes go by it.
func loadBothPolicies(ctx context.Context, paths []string) (*policy.Set, *imagepolicy.Set, []finding.Problem, error) {
	set, problems, err := loadPolicies(ctx, paths)
	if err != nil {
		return nil, nil, nil, err
	}
	imageSet := &imagepolicy.Set{}
	if len(paths) == 0 {
		return set, imageSet, problems, nil
	}
	imageSet, more := imagepolicy.Load(ctx, paths)
	seen := map[string]bool{}
	for _, p := range problems {
		seen[p.String()] = true
	}
	for _, p := range more {
		if !seen[p.String()] {
			seen[p.String()] = true
			problems = append(problems, p)
		}
	}
	for _, ip := range imageSet.Policies {
		for _, p := range set.Policies {
			if p.ID() == ip.ID() {
				problems = append(problems, finding.Problem{File: ip.File, Line: ip.Line,
					Message: fmt.Sprintf("%s %s: the name is taken by a Policy: give each check its own name", imagepolicy.Kind, ip.ID())})
			}
		}
	}
	return set, imageSet, problems, nil
}

// clusterLookups wires namespace and service account caches from the API
// server; sync waits for them.
func clusterLookups(ctx context.Context, fl *webhookFlags, cfg *webhook.Config, log *slog.Logger) (string, func(context.Context) bool, error) {
	if fl.noCluster {
		log.Warn("running without a cluster: namespace selectors see only the namespace name label, service accounts are unknown")
		return "none", nil, nil
	}
	rc, err := restConfig(fl.kubeconfig)
	if err != nil {
		return "", nil, fmt.Errorf("cluster connection (use --no-cluster to run without): %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return "", nil, err
	}
	f := informers.NewSharedInformerFactory(client, 30*time.Minute)
	nsInf := f.Core().V1().Namespaces()
	saInf := f.Core().V1().ServiceAccounts()
	cfg.Namespaces = nsInf.Lister()
	cfg.ServiceAccounts = webhook.ServiceAccountsFrom(saInf.Lister())
	nsSynced, saSynced := nsInf.Informer().HasSynced, saInf.Informer().HasSynced
	f.Start(ctx.Done())
	return rc.Host, func(ctx context.Context) bool {
		return cache.WaitForCacheSync(ctx.Done(), nsSynced, saSynced)
	}, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if rc, err := rest.InClusterConfig(); err == nil {
		return rc, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
}

func newWebhookManifest(stdio IO) *cobra.Command {
	var (
		o                     webhook.ManifestOptions
		caFile, failurePolicy string
		output                string
		policies              []string
		timeout               int32
		builtin, mutate       bool
		registryTimeout       time.Duration
	)
	c := &cobra.Command{
		Use:   "manifest",
		Short: "Write the webhook configurations (validating, and with --mutate mutating), safe by default",
		Long: `Writes a ValidatingWebhookConfiguration with a timeout, the failure policy you
choose (Fail: nothing unjudged gets in, but an unavailable webhook blocks
changes; Ignore: the cluster keeps working when the webhook is down, unjudged),
kube-system, kube-node-lease and the webhook's own namespace excluded,
sideEffects None (so dry-run requests are judged too), and rules for just the
resources the built-in checks and the given policies judge.

When the policies include ImageVerificationPolicies, pods (with their
ephemeralcontainers subresource) and the workloads with pod templates are
sent, and --timeout must leave 2s beside --registry-timeout (the default
timeout grows to fit). --mutate also writes a MutatingWebhookConfiguration
calling /mutate for the same resources, which pins images verified by
policies with mutateDigest to their digests: reinvocationPolicy IfNeeded,
sideEffects None, the same failure policy and timeout.`,
		Example: `  mamori webhook manifest --failure-policy Fail --namespace mamori-system --service mamori --ca-file ca.pem --policy policies/
  mamori webhook manifest --failure-policy Ignore --url https://127.0.0.1:8443/validate --ca-file ca.pem
  mamori webhook manifest --failure-policy Fail --policy policies/ --mutate --registry-timeout 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if failurePolicy == "" {
				return fmt.Errorf("--failure-policy is required: Fail (deny what cannot be judged) or Ignore (admit it)")
			}
			o.FailurePolicy = admissionregistrationv1.FailurePolicyType(failurePolicy)
			o.TimeoutSeconds, o.Builtin, o.RegistryTimeout = timeout, builtin, registryTimeout
			if caFile != "" {
				ca, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--ca-file: %w", err)
				}
				o.CABundle = ca
			}
			if o.URL != "" {
				o.Service = ""
			}
			set, imageSet, problems, err := loadBothPolicies(cmd.Context(), policies)
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintln(stdio.Err, "error:", p.String())
			}
			if len(problems) > 0 {
				return &exitError{ExitError}
			}
			o.Policies, o.ImagePolicies = set, imageSet
			if len(imageSet.Policies) > 0 && !cmd.Flags().Changed("timeout") {
				o.TimeoutSeconds = max(o.TimeoutSeconds, webhook.MinTimeoutSeconds(registryTimeout))
			}
			if mutate && len(imageSet.Policies) == 0 {
				return fmt.Errorf("--mutate: no ImageVerificationPolicy in the --policy paths, so nothing to pin")
			}
			vwc, err := webhook.Configuration(o)
			if err != nil {
				return err
			}
			data, err := yamlOf(vwc)
			if err != nil {
				return err
			}
			if mutate {
				mwc, err := webhook.MutatingConfiguration(o)
				if err != nil {
					return err
				}
				more, err := yamlOf(mwc)
				if err != nil {
					return err
				}
				data = append(append(data, "---\n"...), more...)
			}
			return writeOutput(stdio, output, data)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Name, "name", "mamori", "name of the webhook configurations")
	f.StringVar(&o.Namespace, "namespace", "mamori-system", "namespace the webhook runs in (always excluded)")
	f.StringVar(&o.Service, "service", "mamori", "service in front of the webhook")
	f.StringVar(&o.URL, "url", "", "call the webhook at this URL instead of a service (its /validate; /mutate beside it)")
	f.StringVar(&caFile, "ca-file", "", "CA bundle (PEM) the API server verifies the webhook's certificate with")
	f.Int32Var(&timeout, "timeout", 5, "seconds the API server waits for the webhook (1-30); with image policies, at least --registry-timeout plus 2s")
	f.DurationVar(&registryTimeout, "registry-timeout", imagepolicy.DefaultTimeout, "the webhook's --registry-timeout, which --timeout must leave room for")
	f.BoolVar(&mutate, "mutate", false, "also write the MutatingWebhookConfiguration that pins verified images to their digests (/mutate)")
	f.StringVar(&failurePolicy, "failure-policy", "", "Fail or Ignore: what the API server does when the webhook cannot answer (required)")
	f.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespace", nil, "more namespaces never sent to the webhook (repeatable)")
	f.StringArrayVar(&policies, "policy", nil, "policies whose resources the webhook must see (repeatable)")
	f.BoolVar(&builtin, "builtin", true, "send the resources the built-in checks judge")
	f.StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return c
}

func yamlOf(obj runtime.Object) ([]byte, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return yaml.Marshal(m)
}
