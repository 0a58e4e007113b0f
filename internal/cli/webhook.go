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
}

func newWebhook(stdio IO) *cobra.Command {
	var fl webhookFlags
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve the validating admission webhook (HTTPS: /validate, /healthz, /readyz, /metrics)",
		Long: `The webhook judges admission requests with the built-in checks, Pod Security
Standards, CEL policies (each with its mode: enforce denies, warn returns
warnings, audit adds audit annotations) and exceptions, exactly as
'mamori scan config' judges manifests. Built-in findings at or above
--enforce-severity follow --builtin-mode; those below warn.`,
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
	cfg, err := webhookConfig(ctx, fl)
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
	log.Info("mamori webhook serving", "addr", ln.Addr().String(), "policies", len(cfg.Policies.Policies), "builtin", fl.builtin, "cluster", h)
	go func() {
		if sync != nil && !sync(ctx) {
			return
		}
		handler.SetReady()
		log.Info("ready")
	}()
	return webhook.Serve(ctx, ln, handler, tlsCfg, fl.shutdownGrace, log)
}

// webhookConfig loads what the webhook judges with.
func webhookConfig(ctx context.Context, fl *webhookFlags) (webhook.Config, error) {
	var cfg webhook.Config
	set, problems, err := loadPolicies(ctx, fl.policies)
	if err != nil {
		return cfg, err
	}
	exc, errs, err := loadIgnoreFiles(fl.ignoreFiles)
	if err != nil {
		return cfg, err
	}
	problems = append(problems, errs...)
	if len(problems) > 0 {
		// A webhook that silently drops a broken policy lets through what
		// it should stop: refuse to start.
		msg := ""
		for _, p := range problems {
			msg += "\n  " + p.String()
		}
		return cfg, fmt.Errorf("policies or exceptions do not load:%s", msg)
	}
	cfg.Policies, cfg.Exceptions = set, exc
	if fl.builtin {
		cfg.Scanner, err = misconfig.New(misconfig.Options{PSSLevel: fl.pssLevel, PSSVersion: fl.pssVersion})
		if err != nil {
			return cfg, err
		}
	}
	switch m := policy.Mode(fl.builtinMode); m {
	case policy.Enforce, policy.Warn, policy.Audit:
		cfg.BuiltinMode = m
	default:
		return cfg, fmt.Errorf("--builtin-mode %q: want enforce, warn or audit", fl.builtinMode)
	}
	cfg.EnforceSeverity, err = finding.ParseSeverity(fl.enforceSeverity)
	if err != nil {
		return cfg, fmt.Errorf("--enforce-severity: %w", err)
	}
	return cfg, nil
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
		builtin               bool
	)
	c := &cobra.Command{
		Use:   "manifest",
		Short: "Write the ValidatingWebhookConfiguration for the webhook, safe by default",
		Long: `Writes a ValidatingWebhookConfiguration with a timeout, the failure policy you
choose (Fail: nothing unjudged gets in, but an unavailable webhook blocks
changes; Ignore: the cluster keeps working when the webhook is down, unjudged),
kube-system, kube-node-lease and the webhook's own namespace excluded,
sideEffects None (so dry-run requests are judged too), and rules for just the
resources the built-in checks and the given policies judge.`,
		Example: `  mamori webhook manifest --failure-policy Fail --namespace mamori-system --service mamori --ca-file ca.pem --policy policies/
  mamori webhook manifest --failure-policy Ignore --url https://127.0.0.1:8443/validate --ca-file ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if failurePolicy == "" {
				return fmt.Errorf("--failure-policy is required: Fail (deny what cannot be judged) or Ignore (admit it)")
			}
			o.FailurePolicy = admissionregistrationv1.FailurePolicyType(failurePolicy)
			o.TimeoutSeconds, o.Builtin = timeout, builtin
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
			set, problems, err := loadPolicies(cmd.Context(), policies)
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintln(stdio.Err, "error:", p.String())
			}
			if len(problems) > 0 {
				return &exitError{ExitError}
			}
			o.Policies = set
			vwc, err := webhook.Configuration(o)
			if err != nil {
				return err
			}
			data, err := yamlOf(vwc)
			if err != nil {
				return err
			}
			return writeOutput(stdio, output, data)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Name, "name", "mamori", "name of the ValidatingWebhookConfiguration")
	f.StringVar(&o.Namespace, "namespace", "mamori-system", "namespace the webhook runs in (always excluded)")
	f.StringVar(&o.Service, "service", "mamori", "service in front of the webhook")
	f.StringVar(&o.URL, "url", "", "call the webhook at this URL instead of a service")
	f.StringVar(&caFile, "ca-file", "", "CA bundle (PEM) the API server verifies the webhook's certificate with")
	f.Int32Var(&timeout, "timeout", 5, "seconds the API server waits for the webhook (1-30)")
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
