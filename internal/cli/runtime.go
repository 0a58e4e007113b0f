package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/pkg/runtime/agent"
	"github.com/mamori-dev/mamori/pkg/runtime/enrich"
	"github.com/mamori-dev/mamori/pkg/runtime/event"
	"github.com/mamori-dev/mamori/pkg/runtime/output"
	"github.com/mamori-dev/mamori/pkg/runtime/rules"
	"github.com/mamori-dev/mamori/pkg/runtime/sensor"
)

// clusterFlags are how runtime commands find pods: a node-local watch.
type clusterFlags struct {
	kubeconfig string
	nodeName   string
	noCluster  bool
	procRoot   string
}

func (c *clusterFlags) add(cmd *cobra.Command, env func(string) string) {
	f := cmd.Flags()
	f.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig for the pod watch (default: in-cluster, then $KUBECONFIG)")
	f.StringVar(&c.nodeName, "node-name", env("NODE_NAME"), "this node's name: only its pods are watched (default $NODE_NAME)")
	f.BoolVar(&c.noCluster, "no-cluster", false, "run without the API server: events carry container IDs, not pods")
	f.StringVar(&c.procRoot, "proc-root", "/proc", "where the host's /proc is mounted")
}

// resolver builds cgroup→container→pod attribution. Without a cluster (or
// when none is reachable and --node-name is empty) it attributes to
// container IDs and the host only.
func (c *clusterFlags) resolver(ctx context.Context, log *slog.Logger) (*enrich.Resolver, *enrich.Pods, error) {
	var pods *enrich.Pods
	if !c.noCluster {
		cfg, err := restConfig(c.kubeconfig)
		switch {
		case err != nil && c.kubeconfig == "" && c.nodeName == "":
			log.Info("no cluster configured: attributing events to container IDs and the host", "reason", err)
		case err != nil:
			return nil, nil, fmt.Errorf("kubeconfig: %w", err)
		case c.nodeName == "":
			return nil, nil, errors.New("--node-name (or $NODE_NAME) is needed to watch this node's pods; --no-cluster runs without them")
		default:
			pods, err = enrich.WatchPods(ctx, cfg, c.nodeName)
			if err != nil {
				return nil, nil, fmt.Errorf("watch pods on node %s: %w", c.nodeName, err)
			}
		}
	}
	r, err := enrich.New(enrich.Options{Pods: pods})
	if err != nil {
		return nil, nil, err
	}
	return r, pods, nil
}

type agentFlags struct {
	cluster        clusterFlags
	rules          []string
	noBuiltin      bool
	check          bool
	output         string
	webhookURL     string
	metricsAddr    string
	moduleAttempts bool
	processCache   int
	ringMiB        int
}

func newAgent(stdio IO) *cobra.Command {
	var fl agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the eBPF runtime sensor: alert on (and stop) what runs in containers",
		Long: `The agent watches process executions, opens of sensitive files, connections,
privilege and namespace changes, module loads, ptrace and memfd executions
in the kernel (eBPF on tracepoints; no kprobes, fentry or BPF LSM needed),
ties every event to its container and pod, and evaluates runtime rules in
CEL. Kill rules in enforce mode with a kernel block kill at exec, in the
kernel; other kill rules kill from user space. --check says what this
kernel offers and what that means for each rule.`,
		Example: `  mamori agent --check
  mamori agent --node-name "$NODE_NAME" --metrics-addr :9090 --rules /rules
  mamori agent --no-cluster --output alerts.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(cmd.Context(), stdio, &fl) },
	}
	fl.cluster.add(cmd, envOr(stdio))
	f := cmd.Flags()
	f.StringArrayVar(&fl.rules, "rules", nil, "file or directory of runtime rules (repeatable)")
	f.BoolVar(&fl.noBuiltin, "no-builtin-rules", false, "leave out mamori's built-in rules")
	f.BoolVar(&fl.check, "check", false, "probe the kernel, print what is available for each sensor and rule, and exit")
	f.StringVar(&fl.output, "output", "-", "where alerts go as JSON lines: - for stdout, or a file (appended)")
	f.StringVar(&fl.webhookURL, "webhook-url", "", "also POST alerts (JSON arrays) to this URL")
	f.StringVar(&fl.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics and /healthz on this address (e.g. :9090)")
	f.BoolVar(&fl.moduleAttempts, "module-attempts", false, "on kernels without module syscall tracepoints, catch module loads with a hook on every syscall")
	f.IntVar(&fl.processCache, "process-cache", 65536, "most processes the process cache holds")
	f.IntVar(&fl.ringMiB, "ring-mib", 8, "ring buffer size in MiB (power of two)")
	return cmd
}

func envOr(stdio IO) func(string) string {
	if stdio.Environment != nil {
		return stdio.Environment
	}
	return os.Getenv
}

func loadRuntimeRules(files []string, noBuiltin bool) (*rules.Set, error) {
	var sets []*rules.Set
	if !noBuiltin {
		b, err := rules.Builtin()
		if err != nil {
			return nil, err
		}
		sets = append(sets, b)
	}
	if len(files) > 0 {
		u, err := rules.Load(files...)
		if err != nil {
			return nil, err
		}
		sets = append(sets, u)
	}
	if len(sets) == 0 {
		return nil, errors.New("no rules: --no-builtin-rules needs --rules")
	}
	if len(sets) == 1 {
		return sets[0], nil
	}
	return rules.Merge(sets...)
}

func runAgent(ctx context.Context, stdio IO, fl *agentFlags) error {
	log := slog.New(slog.NewJSONHandler(stdio.Err, nil))
	rs, err := loadRuntimeRules(fl.rules, fl.noBuiltin)
	if err != nil {
		return err
	}
	if fl.check {
		return printCheck(stdio, rs)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, pods, err := fl.cluster.resolver(ctx, log)
	if err != nil {
		return err
	}
	defer res.Close()
	var sinks output.Multi
	reg := prometheus.NewRegistry()
	var a *agent.Agent
	metrics, err := output.NewMetrics(reg, output.MetricsSources{
		Lost: func() map[string]uint64 {
			if a == nil {
				return nil
			}
			return a.Sensor().Lost()
		},
		Programs: func() []output.ProgramStats {
			if a == nil {
				return nil
			}
			var out []output.ProgramStats
			for _, p := range a.Sensor().Stats() {
				out = append(out, output.ProgramStats{Name: p.Program, Runtime: p.Runtime, RunCount: p.Runs})
			}
			return out
		},
		ProcessCacheEntries: func() int {
			if a == nil {
				return 0
			}
			return a.ProcessCacheEntries()
		},
	})
	if err != nil {
		return err
	}
	secrets, err := newSecretEngine()
	if err != nil {
		return err
	}
	so := output.Options{Logger: log, Metrics: metrics, Secrets: secrets}
	if fl.output == "-" {
		sinks = append(sinks, output.NewJSONLines(stdio.Out, so))
	} else {
		f, err := output.OpenFile(fl.output, so)
		if err != nil {
			return err
		}
		sinks = append(sinks, f)
	}
	if fl.webhookURL != "" {
		w, err := output.NewWebhook(output.WebhookConfig{URL: fl.webhookURL}, so)
		if err != nil {
			return err
		}
		sinks = append(sinks, w)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sinks.Close(cctx)
	}()
	a, err = agent.New(ctx, agent.Options{
		Rules: rs, Resolver: res, Sink: sinks, Metrics: metrics, Logger: log,
		ModuleAttempts: fl.moduleAttempts, ProcessCache: fl.processCache, ProcRoot: fl.cluster.procRoot,
		RingBytes: fl.ringMiB << 20,
	})
	if err != nil {
		return err
	}
	defer a.Close()
	if pods != nil {
		pods.OnChange(func() {
			if err := a.SyncKillCgroups(); err != nil {
				log.Error("update in-kernel kill scope", "err", err)
			}
		})
	}
	if fl.metricsAddr != "" {
		go func() {
			h := output.Handler(reg, func() error { return nil })
			if err := output.ListenAndServe(ctx, fl.metricsAddr, h); err != nil {
				log.Error("metrics server", "err", err)
			}
		}()
	}
	log.Info("agent running", "rules", len(rs.Rules()), "hooks", len(a.Sensor().Hooks()))
	return a.Run(ctx)
}

// printCheck loads the sensor with every hook, reports the kernel's
// features and, per rule, whether it can see its events and how it acts.
func printCheck(stdio IO, rs *rules.Set) error {
	w := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FEATURE\tAVAILABLE\tUSE\tDETAIL")
	sendSignal := false
	for _, f := range sensor.Features() {
		if f.Name == "bpf_send_signal" {
			sendSignal = f.Available
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Name, yesNo(f.Available), f.Used, oneLine(f.Detail))
	}
	w.Flush()
	hooksByKind := map[event.Kind][]sensor.Hook{}
	s, err := sensor.Load(context.Background(), sensor.Options{ModuleAttempts: false})
	if err != nil {
		fmt.Fprintf(stdio.Out, "\nThe sensor cannot load here: %v\nNo rule can run.\n", err)
		return &exitError{code: ExitError}
	}
	for _, h := range s.Hooks() {
		hooksByKind[h.Kind] = append(hooksByKind[h.Kind], h)
	}
	s.Close()
	fmt.Fprintln(stdio.Out)
	w = tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "HOOK\tKIND\tATTACHED\tDETAIL")
	for _, k := range event.Kinds {
		for _, h := range hooksByKind[k] {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", h.Name, h.Kind, yesNo(h.Attached), oneLine(h.Error))
		}
	}
	w.Flush()
	fmt.Fprintln(stdio.Out)
	w = tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RULE\tSTATUS\tACTION\tWHAT THAT MEANS")
	for _, r := range rs.Rules() {
		if !r.Enabled {
			fmt.Fprintf(w, "%s\tdisabled\t%s\t\n", r.ID, r.Action)
			continue
		}
		status, means := "active", ""
		var missing []string
		for _, k := range r.Events {
			attached := slices.ContainsFunc(hooksByKind[k], func(h sensor.Hook) bool { return h.Attached })
			if !attached {
				missing = append(missing, string(k))
			}
			if k == event.Module {
				partial := slices.ContainsFunc(hooksByKind[k], func(h sensor.Hook) bool { return !h.Attached })
				if partial && !attached {
					means = "the kernel has no module syscall tracepoints (built without module support: no module can be loaded); --module-attempts catches attempts with a hook on every syscall"
				}
			}
		}
		if len(missing) > 0 {
			status = "inactive"
			if means == "" {
				means = "no hook for " + strings.Join(missing, ", ") + " events on this kernel"
			}
		}
		action := string(r.Action)
		if r.Action == rules.Kill {
			switch {
			case r.Mode != rules.Enforce:
				action = "kill (monitor: alerts only)"
			case r.KillInKernel && sendSignal:
				action = "kill in kernel at exec"
			case r.KillInKernel:
				action = "kill from user space"
				means = strings.TrimPrefix(means+"; ", "; ") + "no bpf_send_signal: DEGRADED, the program runs until user space kills it"
			default:
				action = "kill from user space"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.ID, status, action, means)
	}
	return w.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

type traceFlags struct {
	cluster clusterFlags
	filter  output.Filter
	format  string
	paths   []string
	timeout time.Duration
}

func newTrace(stdio IO) *cobra.Command {
	var fl traceFlags
	cmd := &cobra.Command{
		Use:   "trace exec|open|connect|syscalls",
		Short: "Trace process executions, file opens, connections or security-relevant syscalls live",
		Long: `trace prints events as they happen, attributed to namespace, pod and
container, one line each (or JSON lines with -o json). Filters are globs.
'open' traces opens under --path (default: every path).`,
		Example: `  mamori trace exec --namespace shop
  mamori trace open --path /etc/ --comm 'python*'
  mamori trace connect -o json --timeout 30s`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"exec", "open", "connect", "syscalls"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTrace(cmd.Context(), stdio, &fl, args[0])
		},
	}
	fl.cluster.add(cmd, envOr(stdio))
	f := cmd.Flags()
	f.StringVar(&fl.filter.Namespace, "namespace", "", "only pods in namespaces matching this glob")
	f.StringVar(&fl.filter.Pod, "pod", "", "only pods whose name matches this glob")
	f.StringVar(&fl.filter.Container, "container", "", "only containers whose name matches this glob")
	f.StringVar(&fl.filter.Comm, "comm", "", "only processes whose command name matches this glob")
	f.StringVarP(&fl.format, "output", "o", "columns", "columns or json")
	f.StringArrayVar(&fl.paths, "path", nil, "open: path prefix to trace (repeatable; default /)")
	f.DurationVar(&fl.timeout, "timeout", 0, "stop after this long (default: until interrupted)")
	return cmd
}

func runTrace(ctx context.Context, stdio IO, fl *traceFlags, what string) error {
	tr, err := output.ParseTrace(what)
	if err != nil {
		return err
	}
	if err := fl.filter.Validate(); err != nil {
		return err
	}
	var format output.Format
	switch fl.format {
	case "columns", "table", "":
		format = output.Table
	case "json":
		format = output.JSONFormat
	default:
		return fmt.Errorf("-o %q: want columns or json", fl.format)
	}
	secrets, err := newSecretEngine()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdio.Err, nil))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if fl.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fl.timeout)
		defer cancel()
	}
	res, _, err := fl.cluster.resolver(ctx, log)
	if err != nil {
		return err
	}
	defer res.Close()
	fl.filter.Kinds = tr.Kinds()
	kinds := append(slices.Clone(tr.Kinds()), event.Exec, event.Exit)
	var paths []sensor.PathWatch
	if tr == output.TraceOpen {
		if len(fl.paths) == 0 {
			fl.paths = []string{"/"}
		}
		for _, p := range fl.paths {
			paths = append(paths, sensor.PathWatch{Prefix: p, Access: sensor.Any})
		}
	}
	pr := output.NewPrinter(stdio.Out, tr, output.PrinterOptions{Format: format, Secrets: secrets})
	a, err := agent.New(ctx, agent.Options{
		Resolver: res, Logger: log, Kinds: kinds, Paths: paths, ProcRoot: fl.cluster.procRoot,
		OnEvent: func(e *event.Event) {
			if fl.filter.Match(e) {
				// A live trace shows each line as it happens.
				if err := pr.Print(e); err == nil {
					err = pr.Flush()
				}
			}
		},
	})
	if err != nil {
		return err
	}
	defer a.Close()
	err = a.Run(ctx)
	pr.Flush()
	for name, n := range a.Sensor().Lost() {
		if n > 0 {
			fmt.Fprintf(stdio.Err, "warning: the kernel lost %d %s events (ring buffer full)\n", n, name)
		}
	}
	return err
}
