package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/pkg/runtime/advise"
	"github.com/mamori-dev/mamori/pkg/runtime/agent"
	"github.com/mamori-dev/mamori/pkg/runtime/enrich"
	"github.com/mamori-dev/mamori/pkg/runtime/event"
)

type adviseFlags struct {
	cluster   clusterFlags
	namespace string
	pod       string
	cgroup    string
	duration  time.Duration
	format    string
	output    string
	kill      bool
	ringMiB   int
}

func newAdvise(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "advise",
		Short: "Record what a pod does and write the least privilege that allows exactly that",
	}
	cmd.AddCommand(newAdviseKind(stdio, "seccomp"), newAdviseKind(stdio, "networkpolicy"))
	return cmd
}

func newAdviseKind(stdio IO, kind string) *cobra.Command {
	var fl adviseFlags
	short := map[string]string{
		"seccomp":       "Record a pod's syscalls (counted in the kernel) and write a seccomp profile allowing only them",
		"networkpolicy": "Record a pod's connections and write a NetworkPolicy allowing only those peers and ports",
	}[kind]
	cmd := &cobra.Command{
		Use:   kind,
		Short: short,
		Example: fmt.Sprintf(`  mamori advise %s --namespace shop --pod web-7d4 --duration 10m -o out.yaml
  mamori advise %s --no-cluster --cgroup /kubepods/besteffort/pod<uid> --duration 1m`, kind, kind),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAdvise(cmd.Context(), stdio, &fl, kind) },
	}
	fl.cluster.add(cmd, envOr(stdio))
	f := cmd.Flags()
	f.StringVar(&fl.namespace, "namespace", "", "the pod's namespace")
	f.StringVar(&fl.pod, "pod", "", "the pod to record (its containers, including ones that start while recording)")
	f.StringVar(&fl.cgroup, "cgroup", "", "record this cgroup (as /proc/<pid>/cgroup names it, or its directory) and its descendants instead of a pod")
	f.DurationVar(&fl.duration, "duration", time.Minute, "how long to record")
	f.StringVarP(&fl.output, "output", "o", "-", "file to write, - for stdout")
	f.IntVar(&fl.ringMiB, "ring-mib", 8, "ring buffer size in MiB (power of two)")
	if kind == "seccomp" {
		f.StringVar(&fl.format, "format", "spo", "spo (Security Profiles Operator SeccompProfile) or json (plain OCI profile)")
		f.BoolVar(&fl.kill, "kill", false, "kill the process on any other syscall instead of failing it with EPERM")
	}
	return cmd
}

func runAdvise(ctx context.Context, stdio IO, fl *adviseFlags, kind string) error {
	log := slog.New(slog.NewTextHandler(stdio.Err, nil))
	if (fl.pod == "") == (fl.cgroup == "") || fl.pod != "" && fl.namespace == "" {
		return errors.New("give --namespace and --pod, or --cgroup")
	}
	// Checked before recording, not after --duration has been spent.
	if kind == "seccomp" && fl.format != "spo" && fl.format != "json" {
		return fmt.Errorf("--format %q: want spo or json", fl.format)
	}
	res, pods, err := fl.cluster.resolver(ctx, log)
	if err != nil {
		return err
	}
	defer res.Close()
	var podInfo *event.Pod
	var cgroups func() ([]uint64, error)
	if fl.cgroup != "" {
		// A cgroup path as /proc/<pid>/cgroup shows it ("/kubepods/…",
		// "/" for the root), or a directory under the cgroup2 mount.
		dir := fl.cgroup
		if rel, err := filepath.Rel(res.Root(), dir); err != nil || strings.HasPrefix(rel, "..") {
			dir = filepath.Join(res.Root(), dir)
		}
		id, err := enrich.CgroupID(dir)
		if err != nil {
			return fmt.Errorf("--cgroup %s: %w", fl.cgroup, err)
		}
		cgroups = func() ([]uint64, error) { return []uint64{id}, nil }
		podInfo = &event.Pod{Namespace: fl.namespace, Name: filepath.Base(dir)}
	} else {
		if pods == nil {
			return errors.New("--pod needs the cluster (kubeconfig and --node-name); --cgroup works without it")
		}
		cfg, err := restConfig(fl.cluster.kubeconfig)
		if err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		p, err := cs.CoreV1().Pods(fl.namespace).Get(ctx, fl.pod, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("pod %s/%s: %w", fl.namespace, fl.pod, err)
		}
		if p.Spec.NodeName != fl.cluster.nodeName {
			return fmt.Errorf("pod %s/%s runs on node %s, not %s: run advise there", fl.namespace, fl.pod, p.Spec.NodeName, fl.cluster.nodeName)
		}
		podInfo = &event.Pod{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Labels: p.Labels}
		sel := labels.SelectorFromSet(p.Labels)
		cgroups = func() ([]uint64, error) {
			ids, err := res.Matching(sel)
			if err != nil {
				return nil, err
			}
			var mine []uint64
			for _, id := range ids {
				if c, _ := res.Resolve(id); c != nil && c.Pod != nil && c.Pod.UID == string(p.UID) {
					mine = append(mine, id)
				}
			}
			return mine, nil
		}
	}
	rctx, cancel := context.WithTimeout(ctx, fl.duration)
	defer cancel()
	fmt.Fprintf(stdio.Err, "recording %s for %s…\n", podInfo.Name, fl.duration)
	rec, err := agent.Record(rctx, agent.RecordOptions{Cgroups: cgroups, Resolver: res, Logger: log, ProcRoot: fl.cluster.procRoot, RingBytes: fl.ringMiB << 20})
	if err != nil {
		return err
	}
	for name, n := range rec.Lost {
		if n > 0 {
			return fmt.Errorf("the kernel lost %d %s events while recording: the result would be incomplete; record again with a larger --ring-mib or under less load", n, name)
		}
	}
	var out []byte
	switch kind {
	case "seccomp":
		var counts []map[uint32]uint64
		for _, c := range rec.Syscalls {
			counts = append(counts, c)
		}
		if len(counts) == 0 {
			return errors.New("no syscalls recorded: did the pod's containers run while recording?")
		}
		opts := advise.SeccompOptions{DefaultAction: specs.ActErrno}
		if fl.kill {
			opts.DefaultAction = specs.ActKillProcess
		}
		prof, err := advise.NewSeccomp(opts, counts...)
		if err != nil {
			return err
		}
		if fl.format == "json" {
			out, err = prof.JSON()
		} else {
			out, err = yaml.Marshal(prof.SPO(podInfo.Namespace, podInfo.Name))
		}
		if err != nil {
			return err
		}
	case "networkpolicy":
		resolveIP := func(string) *event.Pod { return nil }
		np, err := advise.NetworkPolicy(podInfo, rec.Conns, resolveIP, advise.NetworkPolicyOptions{})
		if err != nil {
			return err
		}
		if out, err = yaml.Marshal(np); err != nil {
			return err
		}
	}
	return writeOut(stdio.Out, fl.output, out)
}

func writeOut(stdout io.Writer, path string, b []byte) error {
	if path == "-" || path == "" {
		_, err := stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
