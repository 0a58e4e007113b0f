package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/pkg/alertsink"
	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/audit/alertfmt"
	"github.com/mamori-dev/mamori/pkg/audit/auditpolicy"
	"github.com/mamori-dev/mamori/pkg/audit/rules"
	"github.com/mamori-dev/mamori/pkg/audit/server"
	"github.com/mamori-dev/mamori/pkg/audit/source"
)

func newAudit(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Detect attacks in Kubernetes audit logs: files, managed-cluster exports, the API server's webhook",
		Long: `Judge Kubernetes audit events with CEL rules mapped to MITRE ATT&CK for Containers.

Events come from audit log files (JSON lines or EventList, rotated, gzip), from
GKE and EKS exports, from stdin, from a file followed as it grows, or from the
API server's audit webhook backend (audit serve). See docs/audit.md.`,
	}
	cmd.AddCommand(newAuditScan(stdio), newAuditServe(stdio), newAuditPolicy(stdio), newAuditRules(stdio))
	return cmd
}

// auditRuleFlags choose the rules and exceptions.
type auditRuleFlags struct {
	rules       []string
	noBuiltin   bool
	lists       []string
	ignoreFiles []string
}

func (r *auditRuleFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&r.rules, "rules", nil, "audit rule file or directory (AuditRule, AuditList, AuditMacro, AuditRuleOverride); repeatable")
	f.BoolVar(&r.noBuiltin, "no-builtin", false, "load only --rules, not the built-in rules")
	f.StringArrayVar(&r.lists, "list", nil, "replace a list's items: NAME=item,item (e.g. secret_readers=system:serviceaccount:ci:*); repeatable")
	f.StringSliceVar(&r.ignoreFiles, "ignorefile", nil, "exception file (.mamori-ignore.yaml format: check, users, resources, reason, owner, expires); repeatable")
}

func (r *auditRuleFlags) load() (*rules.Set, error) {
	lists := map[string][]string{}
	for _, l := range r.lists {
		name, items, ok := strings.Cut(l, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--list %q: want NAME=item,item", l)
		}
		var vals []string
		for it := range strings.SplitSeq(items, ",") {
			if it = strings.TrimSpace(it); it != "" {
				vals = append(vals, it)
			}
		}
		lists[name] = vals
	}
	return rules.Load(r.rules, rules.LoadOptions{NoBuiltin: r.noBuiltin, Lists: lists})
}

// auditOutFlags say where alerts go.
type auditOutFlags struct {
	format     string
	output     string
	webhookURL string
	exitCode   int
}

func (o *auditOutFlags) add(cmd *cobra.Command, exitCode bool) {
	f := cmd.Flags()
	f.StringVarP(&o.format, "format", "f", "text", "alert format on stdout or --output: text or json (JSON lines)")
	f.StringVarP(&o.output, "output", "o", "", "append alerts to this file instead of writing them to stdout")
	f.StringVar(&o.webhookURL, "webhook-url", "", "also POST alerts (JSON arrays) to this URL")
	if exitCode {
		f.IntVar(&o.exitCode, "exit-code", ExitFindings, "exit code when any alert was raised")
	}
}

// auditRun is one stream of events through the rules to the sinks: one
// goroutine calls process, as the engine requires.
type auditRun struct {
	engine  *rules.Engine
	sink    alertsink.Sink[*audit.Alert]
	metrics *server.Metrics
	source  string
	alerts  atomic.Int64
	ctx     context.Context
}

func (r *auditRun) process(ev *audit.Event) error {
	r.metrics.Event(r.source)
	r.engine.Process(ev, r.emit)
	if r.metrics != nil {
		r.metrics.Lag(time.Since(ev.Time()))
	}
	return nil
}

func (r *auditRun) emit(a *audit.Alert) {
	r.alerts.Add(1)
	r.metrics.Alert(a)
	// A full queue is counted and logged by the sink.
	_ = r.sink.Write(r.ctx, a)
}

type auditScanFlags struct {
	rulesFl     auditRuleFlags
	out         auditOutFlags
	inputFormat string
	follow      bool
	fromStart   bool
	rotated     bool
	metricsAddr string
	quiet       bool
}

func newAuditScan(stdio IO) *cobra.Command {
	var fl auditScanFlags
	cmd := &cobra.Command{
		Use:   "scan FILE... | -",
		Short: "Judge audit events from files (JSON lines, EventList, gzip, GKE and EKS exports) or stdin",
		Example: `  mamori audit scan /var/log/kubernetes/audit/audit.log
  mamori audit scan --rotated --format json /var/log/kubernetes/audit/audit.log   # with audit-<time>.log(.gz), oldest first
  mamori audit scan --follow --metrics-listen :9090 /var/log/kubernetes/audit/audit.log
  gcloud logging read 'resource.type="k8s_cluster" logName:"cloudaudit.googleapis.com"' --format json | mamori audit scan -
  mamori audit scan --input-format eks events.json   # aws logs filter-log-events --output json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuditScan(cmd.Context(), stdio, fl, args)
		},
	}
	fl.rulesFl.add(cmd)
	fl.out.add(cmd, true)
	f := cmd.Flags()
	f.StringVar(&fl.inputFormat, "input-format", "auto", "input format: auto (per file), k8s (audit.k8s.io/v1 Event lines or EventList), gke (Cloud Logging entries), eks (CloudWatch Logs export)")
	f.BoolVar(&fl.follow, "follow", false, "follow one file as it grows, across rotation and truncation (like tail -F), until interrupted")
	f.BoolVar(&fl.fromStart, "from-start", false, "with --follow, read the file from its start instead of its end")
	f.BoolVar(&fl.rotated, "rotated", false, "read the rotated siblings of each FILE.log first (FILE-<time>.log[.gz], oldest first)")
	f.StringVar(&fl.metricsAddr, "metrics-listen", "", "with --follow, serve Prometheus /metrics and /healthz on this address (e.g. :9090)")
	f.BoolVarP(&fl.quiet, "quiet", "q", false, "do not print the summary on stderr")
	return cmd
}

func runAuditScan(ctx context.Context, stdio IO, fl auditScanFlags, paths []string) error {
	format, err := source.ParseFormat(fl.inputFormat)
	if err != nil {
		return err
	}
	if fl.follow && (len(paths) != 1 || paths[0] == "-") {
		return errors.New("--follow takes exactly one file")
	}
	if !fl.follow && (fl.fromStart || fl.metricsAddr != "") {
		return errors.New("--from-start and --metrics-listen go with --follow")
	}
	if fl.rotated {
		if paths, err = source.Expand(paths); err != nil {
			return err
		}
	}
	var reg *prometheus.Registry
	var metrics *server.Metrics
	if fl.follow {
		reg = prometheus.NewRegistry()
		if metrics, err = server.NewMetrics(reg); err != nil {
			return err
		}
	}
	_, engine, log, err := fl.rulesFl.engine(stdio, metrics)
	if err != nil {
		return err
	}
	// A batch run blocks on its sinks rather than dropping: the output of a
	// file scan must be complete. A follower never blocks its source.
	sink, err := fl.out.sinks(stdio, log, metrics, !fl.follow)
	if err != nil {
		return err
	}
	run := &auditRun{
		engine:  engine,
		sink:    sink,
		metrics: metrics,
		source:  "file",
		ctx:     ctx,
	}
	report := malformedReporter(stdio.Err, "the summary and mamori_audit_malformed_total count them all")
	opts := source.Options{Format: format, Stdin: stdio.In, OnMalformed: func(m audit.Malformed) {
		metrics.Malformed("file")
		report(m)
	}}
	var st source.Stats
	var readErr error
	if fl.follow {
		serviceGC(stdio)
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		run.ctx = ctx
		if fl.metricsAddr != "" {
			go serveMetrics(ctx, fl.metricsAddr, reg, log)
		}
		st, readErr = source.Follow(ctx, paths[0], source.FollowOptions{Options: opts, FromStart: fl.fromStart,
			OnRotate: func(old, cur string) { log.Info("audit log rotated", "old", old, "path", cur) }}, run.process)
		if errors.Is(readErr, context.Canceled) {
			readErr = nil
		}
	} else {
		st, readErr = source.Read(ctx, paths, opts, run.process)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	closeErr := sink.Close(cctx)
	if !fl.quiet {
		es := run.engine.Stats()
		suppressed := 0
		for _, n := range es.Suppressed {
			suppressed += n
		}
		fmt.Fprintf(stdio.Err, "%d events, %d alerts, %d suppressed by exceptions, %d malformed, %d skipped\n",
			st.Events, run.alerts.Load(), suppressed, st.Malformed, st.Skipped)
	}
	if err := errors.Join(readErr, closeErr); err != nil {
		return err
	}
	if run.alerts.Load() > 0 && fl.out.exitCode != 0 {
		return &exitError{code: fl.out.exitCode}
	}
	return nil
}

// malformedReporter prints the first 20 malformed events with their
// position: enough to find what is wrong, without letting a flood of bad
// input (a webhook client's, say) flood the log.
func malformedReporter(w io.Writer, counted string) func(audit.Malformed) {
	var n atomic.Int64
	return func(m audit.Malformed) {
		switch k := n.Add(1); {
		case k <= 20:
			fmt.Fprintf(w, "%s: %v\n", m.Pos, m.Err)
		case k == 21:
			fmt.Fprintf(w, "(more malformed events: only the first 20 are printed; %s)\n", counted)
		}
	}
}

func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("metrics listener", "err", err)
		return
	}
	srv := &http.Server{Handler: server.MetricsHandler(reg), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics server", "err", err)
	}
}

type auditServeFlags struct {
	rulesFl      auditRuleFlags
	out          auditOutFlags
	listen       string
	addrFile     string
	certFile     string
	keyFile      string
	clientCAFile string
	queueSize    int
	queueWait    time.Duration
	maxBody      int64
	metricsAddr  string
	eventsLog    string
}

func newAuditServe(stdio IO) *cobra.Command {
	var fl auditServeFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Receive audit events from the API server's webhook backend over HTTPS and judge them",
		Long: `Serve the endpoint of the API server's audit webhook backend
(--audit-webhook-config-file). A batch is answered 200 only once all of its
events are queued for the rules. When the queue stays full for --queue-wait
the answer is 429 with Retry-After, which the API server retries with backoff:
a burst is slowed down, never lost silently. Every refusal is counted
(mamori_audit_dropped_total) and logged.`,
		Example: `  mamori audit serve --tls-cert-file tls.crt --tls-key-file tls.key --client-ca-file apiserver-ca.pem \
      --metrics-listen :9090 --format json --webhook-url https://siem.example.com/mamori`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAuditServe(cmd.Context(), stdio, fl)
		},
	}
	fl.rulesFl.add(cmd)
	fl.out.add(cmd, false)
	f := cmd.Flags()
	f.StringVar(&fl.listen, "listen", ":8443", "HTTPS address of the endpoint")
	f.StringVar(&fl.addrFile, "addr-file", "", "write the address the endpoint listens on to this file (for --listen 127.0.0.1:0)")
	f.StringVar(&fl.certFile, "tls-cert-file", "", "serving certificate (PEM); reloaded when it changes (required)")
	f.StringVar(&fl.keyFile, "tls-key-file", "", "serving key (PEM); reloaded when it changes (required)")
	f.StringVar(&fl.clientCAFile, "client-ca-file", "", "require client certificates signed by these CAs (the API server's webhook kubeconfig client-certificate)")
	f.IntVar(&fl.queueSize, "queue-size", 100000, "events held for the rules; a batch that cannot fit waits, then is refused with 429")
	f.DurationVar(&fl.queueWait, "queue-wait", 10*time.Second, "how long a batch waits for room in the queue before 429")
	f.Int64Var(&fl.maxBody, "max-body-bytes", 64<<20, "largest request body accepted")
	f.StringVar(&fl.metricsAddr, "metrics-listen", "", "serve Prometheus /metrics and /healthz over plain HTTP on this address (e.g. :9090); without it they are on the HTTPS endpoint")
	f.StringVar(&fl.eventsLog, "events-log", "", "append the audit ID of every event received to this file (debugging and loss checks)")
	return cmd
}

func runAuditServe(ctx context.Context, stdio IO, fl auditServeFlags) error {
	if fl.certFile == "" || fl.keyFile == "" {
		return errors.New("--tls-cert-file and --tls-key-file are required: the API server's webhook backend speaks HTTPS")
	}
	if fl.queueSize < 1 {
		return fmt.Errorf("--queue-size %d: want at least 1", fl.queueSize)
	}
	reg := prometheus.NewRegistry()
	metrics, err := server.NewMetrics(reg)
	if err != nil {
		return err
	}
	set, engine, log, err := fl.rulesFl.engine(stdio, metrics)
	if err != nil {
		return err
	}
	sink, err := fl.out.sinks(stdio, log, metrics, false)
	if err != nil {
		return err
	}
	var events io.WriteCloser
	if fl.eventsLog != "" {
		f, err := os.OpenFile(fl.eventsLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("--events-log: %w", err)
		}
		events = f
		defer f.Close()
	}
	serviceGC(stdio)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	q := server.NewQueue(fl.queueSize)
	h := server.Handler(server.Config{
		Queue: q, QueueWait: fl.queueWait, MaxBodyBytes: fl.maxBody, Decode: audit.DecodeEvent,
		Metrics: metrics, Logger: log,
		// The handler counts them in mamori_audit_malformed_total.
		OnMalformed: malformedReporter(stdio.Err, "mamori_audit_malformed_total counts them all"),
	})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	if fl.metricsAddr == "" {
		mux.Handle("/metrics", server.MetricsHandler(reg))
	} else {
		go serveMetrics(ctx, fl.metricsAddr, reg, log)
	}
	ln, err := net.Listen("tcp", fl.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if fl.addrFile != "" {
		if err := os.WriteFile(fl.addrFile, []byte(ln.Addr().String()), 0o600); err != nil {
			ln.Close()
			return fmt.Errorf("--addr-file: %w", err)
		}
	}
	run := &auditRun{engine: engine, sink: sink, metrics: metrics, source: server.Source, ctx: context.WithoutCancel(ctx)}
	// The engine drains the queue until it is closed and empty: events
	// answered 200 are judged even while shutting down.
	done := make(chan error, 1)
	go func() {
		buf := make([]*audit.Event, 256)
		var w *bufio.Writer
		if events != nil {
			w = bufio.NewWriter(events)
		}
		for {
			n, err := q.Drain(context.Background(), buf)
			for _, ev := range buf[:n] {
				if w != nil {
					w.WriteString(ev.AuditID + "\n")
				}
				run.process(ev)
			}
			if w != nil && q.Len() == 0 {
				w.Flush()
			}
			clear(buf[:n])
			if err != nil {
				if w != nil {
					w.Flush()
				}
				done <- nil
				return
			}
		}
	}()
	if fl.clientCAFile == "" {
		log.Warn("no --client-ca-file: anyone who reaches the endpoint can feed it events; require the API server's client certificate in production")
	}
	log.Info("audit webhook endpoint listening", "addr", ln.Addr().String(), "rules", len(set.Rules()), "queue", fl.queueSize)
	serveErr := server.Serve(ctx, ln, mux, server.TLSConfig{CertFile: fl.certFile, KeyFile: fl.keyFile, ClientCAFile: fl.clientCAFile, Logger: log})
	q.Close()
	<-done
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(serveErr, sink.Close(cctx))
}

func newAuditPolicy(stdio IO) *cobra.Command {
	var rf auditRuleFlags
	var output string
	var keepSystemReads bool
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Print the audit policy that feeds the rules at low volume",
		Long: `Print an audit.k8s.io/v1 Policy for the API server's --audit-policy-file that
records what the enabled rules read and little else: request bodies only where
a rule reads them, never for secrets and tokens, no RequestReceived stage, and
the read-only traffic of the cluster's own components at None.`,
		Example: `  mamori audit policy > /etc/kubernetes/audit-policy.yaml
  mamori audit policy check /etc/kubernetes/audit-policy.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := rf.load()
			if err != nil {
				return err
			}
			data, err := auditpolicy.Recommended(set.Requirements(), auditpolicy.Options{KeepReadsOfSystem: keepSystemReads})
			if err != nil {
				return err
			}
			return writeOutput(stdio, output, data)
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the policy to this file instead of stdout")
	cmd.Flags().BoolVar(&keepSystemReads, "keep-system-reads", false, "record the reads and heartbeats of the cluster's own components too (Metadata): more volume, and rules that judge every request see them")
	cmd.AddCommand(newAuditPolicyCheck(stdio))
	return cmd
}

func newAuditPolicyCheck(stdio IO) *cobra.Command {
	var rf auditRuleFlags
	var format string
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Say which rules an audit policy starves, and why",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := rf.load()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			rep, err := auditpolicy.Check(args[0], data, set.Requirements())
			if err != nil {
				return err
			}
			switch format {
			case "json":
				enc := json.NewEncoder(stdio.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			case "text":
				printPolicyReport(stdio.Out, args[0], rep, len(set.Requirements()))
			default:
				return fmt.Errorf("--format %q: want text or json", format)
			}
			if len(rep.Starved) > 0 {
				return &exitError{ExitFindings}
			}
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	return cmd
}

func printPolicyReport(w io.Writer, file string, rep *auditpolicy.Report, rules int) {
	if len(rep.Starved) == 0 {
		fmt.Fprintf(w, "%s feeds all %d enabled rules.\n", file, rules)
	}
	for _, s := range rep.Starved {
		at := file
		if s.PolicyLine > 0 {
			at = fmt.Sprintf("%s:%d", file, s.PolicyLine)
		}
		fmt.Fprintf(w, "%s: starves %s: %s", at, s.Rule, s.Reason)
		if s.Example != "" {
			fmt.Fprintf(w, " (e.g. %s)", s.Example)
		}
		fmt.Fprintln(w)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func newAuditRules(stdio IO) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "List and check audit rules"}
	var rf auditRuleFlags
	var format string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the audit rules: ID, severity, MITRE ATT&CK technique, title",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := rf.load()
			if err != nil {
				return err
			}
			rs := set.Rules()
			if format == "json" {
				enc := json.NewEncoder(stdio.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(rs)
			}
			w := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tSEVERITY\tTECHNIQUE\tENABLED\tTITLE")
			for _, r := range rs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Severity, r.Technique, yesNo(r.Enabled), r.Title)
			}
			return w.Flush()
		},
	}
	rf.add(list)
	list.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	check := &cobra.Command{
		Use:   "check FILE...",
		Short: "Load audit rule files with the built-ins and report every problem with its file and line",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rules.ValidateFiles(args); err != nil {
				fmt.Fprintln(stdio.Err, err)
				return &exitError{ExitError}
			}
			fmt.Fprintf(stdio.Out, "%d files: no problems\n", len(args))
			return nil
		},
	}
	cmd.AddCommand(list, check)
	return cmd
}

// engine loads the rules and exceptions and returns a fresh engine, and
// the logger warnings (expired exceptions, evaluation errors) go to.
func (r *auditRuleFlags) engine(stdio IO, m *server.Metrics) (*rules.Set, *rules.Engine, *slog.Logger, error) {
	log := slog.New(slog.NewTextHandler(stdio.Err, nil))
	set, err := r.load()
	if err != nil {
		return nil, nil, nil, err
	}
	exc, problems, err := loadIgnoreFiles(r.ignoreFiles)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stdio.Err, "error:", p.String())
		}
		return nil, nil, nil, &exitError{ExitError}
	}
	e := rules.NewEngine(set, rules.EngineOptions{Exceptions: exc, Logger: log,
		OnSuppressed: func(a *audit.Alert) { m.Suppressed(a.Rule) }})
	return set, e, log, nil
}

// sinks opens where alerts go. block makes writes wait for room rather
// than drop: a file scan's output must be complete.
func (o *auditOutFlags) sinks(stdio IO, log *slog.Logger, m *server.Metrics, block bool) (alertsink.Multi[*audit.Alert], error) {
	secrets, err := newSecretEngine()
	if err != nil {
		return nil, err
	}
	so := alertsink.Options[*audit.Alert]{Logger: log, Redact: alertfmt.Redact(secrets), Block: block,
		OnDrop: func(sink string, n int) { m.Dropped("output_"+sink, n) }}
	var enc alertsink.Encoder[*audit.Alert]
	switch o.format {
	case "json":
		enc = alertsink.JSON[*audit.Alert]
	case "text":
		enc = alertfmt.Text(stdio.OutIsTTY && o.output == "")
	default:
		return nil, fmt.Errorf("--format %q: want text or json", o.format)
	}
	var sinks alertsink.Multi[*audit.Alert]
	switch {
	case o.output == "":
		sinks = append(sinks, alertsink.NewStream(stdio.Out, enc, so))
	case o.format == "json":
		f, err := alertsink.OpenFile(o.output, so)
		if err != nil {
			return nil, fmt.Errorf("--output: %w", err)
		}
		sinks = append(sinks, f)
	default:
		f, err := os.OpenFile(o.output, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("--output: %w", err)
		}
		fo := so
		fo.Name = "file"
		sinks = append(sinks, &closingSink{Sink: alertsink.NewStream(f, enc, fo), f: f})
	}
	if o.webhookURL != "" {
		w, err := alertsink.NewWebhook(alertsink.WebhookConfig{URL: o.webhookURL}, so)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, w)
	}
	return sinks, nil
}

// closingSink closes the file under a stream sink once the sink is closed.
type closingSink struct {
	alertsink.Sink[*audit.Alert]
	f *os.File
}

func (c *closingSink) Close(ctx context.Context) error {
	return errors.Join(c.Sink.Close(ctx), c.f.Close())
}

// serviceGC undoes tuneGC's batch setting for commands that run for days:
// a follower's live heap is small and steady, and collecting at 4x of it
// only holds memory a node could use (hack/bench/audit-follow.sh at 20,000
// events/s: 126 MiB resident instead of 150). GOGC, when set, wins.
func serviceGC(stdio IO) {
	if stdio.Environment != nil && stdio.Environment("GOGC") == "" {
		debug.SetGCPercent(100)
	}
}
