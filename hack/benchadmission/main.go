// Command benchadmission measures the admission webhook's latency on
// loopback: it writes 50 CEL policies, starts `mamori webhook` (built-in
// checks and PSS restricted included) as a separate process, drives it at a
// fixed request rate (open loop: requests are sent on schedule whether or
// not earlier ones have returned, so queueing shows in the latencies),
// reports p50/p99/max, finds the highest rate it sustains, and samples the
// webhook's resident memory throughout.
//
//	go run ./hack/benchadmission -rate 500 -duration 60s
//	go run ./hack/benchadmission -rate 500 -duration 5m -find-max=false   # memory over 5 minutes
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	rate := flag.Int("rate", 500, "requests per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to drive the fixed rate")
	findMax := flag.Bool("find-max", true, "after the fixed rate, step the rate up to find the highest one sustained")
	policies := flag.Int("policies", 50, "number of CEL policies")
	bin := flag.String("mamori", "", "mamori binary (default: build ./cmd/mamori)")
	gen := flag.String("generate", "", "only write the policies to this directory")
	flag.Parse()
	if *gen != "" {
		if err := writePolicies(*gen, *policies); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(*rate, *duration, *findMax, *policies, *bin); err != nil {
		log.Fatal(err)
	}
}

func run(rate int, duration time.Duration, findMax bool, npol int, bin string) error {
	dir, err := os.MkdirTemp("", "benchadmission")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "mamori")
		build := exec.Command("go", "build", "-o", bin, "./cmd/mamori")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	polDir := filepath.Join(dir, "policies")
	if err := writePolicies(polDir, npol); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	caFile := filepath.Join(dir, "ca.pem")
	cmd := exec.Command(bin, "webhook", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--self-signed", "--self-signed-ca-out", caFile,
		"--no-cluster", "--policy", polDir, "--pss-level", "restricted", "--log-format", "json", "--pprof-addr", "127.0.0.1:6061")
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	client, err := waitReady(base, caFile)
	if err != nil {
		return err
	}
	bodies := requests()
	fmt.Printf("webhook pid %d: %d policies + built-in checks + PSS restricted; %d distinct requests\n", cmd.Process.Pid, npol, len(bodies))
	// Warm up connections and caches.
	drive(client, base, bodies, rate, 3*time.Second, nil)

	var mem []int64
	stopMem := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopMem:
				return
			case <-t.C:
				mem = append(mem, rssKB(cmd.Process.Pid))
			}
		}
	}()
	cpu0 := cpuSeconds(cmd.Process.Pid)
	res := drive(client, base, bodies, rate, duration, nil)
	cpu := cpuSeconds(cmd.Process.Pid) - cpu0
	close(stopMem)
	wg.Wait()
	fmt.Printf("fixed rate %d/s for %s: %s\n", rate, duration, res)
	fmt.Printf("webhook CPU: %.2f s, %.0f µs per request\n", cpu, cpu/float64(res.n)*1e6)
	if len(mem) > 0 {
		q := len(mem) / 4
		first, last := avg(mem[:max(q, 1)]), avg(mem[len(mem)-max(q, 1):])
		fmt.Printf("webhook RSS: first quarter avg %.1f MB, last quarter avg %.1f MB, max %.1f MB (%d samples)\n",
			float64(first)/1024, float64(last)/1024, float64(slices.Max(mem))/1024, len(mem))
	}
	if !findMax {
		return nil
	}
	best := 0
	for r := rate; r <= 20000; r += rate / 2 {
		res := drive(client, base, bodies, r, 10*time.Second, nil)
		ok := res.errors == 0 && res.achieved >= 0.97*float64(r) && res.p99 < 50*time.Millisecond
		fmt.Printf("  %5d/s: %s sustained=%v\n", r, res, ok)
		if !ok {
			break
		}
		best = r
	}
	fmt.Printf("highest sustained rate (≥97%% of target, no errors, p99 < 50 ms): %d/s\n", best)
	return nil
}

type result struct {
	n, errors, denied int
	achieved          float64
	p50, p99, pmax    time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("%d requests (%.0f/s achieved), %d denied, %d errors, p50 %s p99 %s max %s",
		r.n, r.achieved, r.denied, r.errors, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.pmax.Round(time.Microsecond))
}

// drive sends requests on a fixed schedule for d and measures each one
// from its scheduled time, so a stalled server cannot hide its backlog.
func drive(c *http.Client, base string, bodies [][]byte, rate int, d time.Duration, _ context.Context) result {
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	lat := make([]time.Duration, total)
	errs := make([]bool, total)
	denied := make([]bool, total)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 512) // bounds in-flight requests
	start := time.Now()
	for i := range total {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := c.Post(base+"/validate", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
			if err != nil {
				errs[i] = true
				lat[i] = time.Since(at)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(at)
			if resp.StatusCode != 200 {
				errs[i] = true
				return
			}
			var out struct {
				Response struct {
					Allowed bool `json:"allowed"`
				} `json:"response"`
			}
			if json.Unmarshal(b, &out) != nil {
				errs[i] = true
			} else {
				denied[i] = !out.Response.Allowed
			}
		}(i, at)
	}
	wg.Wait()
	elapsed := time.Since(start)
	r := result{n: total, achieved: float64(total) / elapsed.Seconds()}
	for i := range total {
		if errs[i] {
			r.errors++
		}
		if denied[i] {
			r.denied++
		}
	}
	slices.Sort(lat)
	if total > 0 {
		r.p50, r.p99, r.pmax = lat[total/2], lat[total*99/100], lat[total-1]
	}
	return r
}

func waitReady(base, caFile string) (*http.Client, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ca, err := os.ReadFile(caFile)
		if err == nil && len(ca) > 0 {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 512, ForceAttemptHTTP2: false}}
			if resp, err := c.Get(base + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return c, nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("webhook not ready after 30s")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// cpuSeconds is the user+system CPU time of a process.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func avg(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s / int64(len(xs))
}

// writePolicies writes n policies in the shapes platform teams write:
// required labels and annotations, allowed registries, replica bounds,
// resource limits, forbidden fields; they match pods and workloads.
func writePolicies(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	shapes := []struct{ expr, msg string }{
		{`has(object.metadata.labels) && '%[1]s' in object.metadata.labels`, `label %[1]s is required`},
		{`!has(object.metadata.annotations) || !('%[1]s/forbidden' in object.metadata.annotations)`, `annotation %[1]s/forbidden is not allowed`},
		{`variables.containers.all(c, c.image.startsWith('registry.example.com/') || c.image.startsWith('%[1]s.example.org/'))`, `images come from approved registries (%[1]s)`},
		{`variables.containers.all(c, has(c.resources) && has(c.resources.limits) && 'memory' in c.resources.limits)`, `containers set memory limits (%[1]s)`},
		{`variables.containers.size() <= 10 && variables.podSpec.?priorityClassName.orValue('') != '%[1]s-forbidden'`, `at most 10 containers, no forbidden priority class (%[1]s)`},
		{`variables.containers.all(c, !c.image.endsWith(':latest'))`, `no latest tags (%[1]s)`},
		{`variables.containers.all(c, c.name.matches('^[a-z][-a-z0-9]*$'))`, `container names are DNS labels (%[1]s)`},
		{`!has(variables.podSpec.hostAliases)`, `no hostAliases (%[1]s)`},
	}
	for i := range n {
		sh := shapes[i%len(shapes)]
		key := fmt.Sprintf("k%02d", i)
		doc := fmt.Sprintf(`apiVersion: mamori.dev/v1alpha1
kind: Policy
metadata:
  name: bench-%02d
spec:
  title: Benchmark policy %02d
  severity: MEDIUM
  mode: %s
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, statefulsets, daemonsets]}
  variables:
  - name: podSpec
    expression: "object.kind == 'Pod' ? object.spec : object.spec.template.spec"
  - name: containers
    expression: "variables.podSpec.containers + variables.podSpec.?initContainers.orValue([])"
  validations:
  - expression: %q
    message: %q
`, i, i, []string{"enforce", "warn", "audit"}[i%3], strings.ReplaceAll(sh.expr, "%[1]s", key), strings.ReplaceAll(sh.msg, "%[1]s", key))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%02d.yaml", i)), []byte(doc), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// requests are AdmissionReviews of Deployments, some hardened and some
// not, so both allow and deny paths are measured.
func requests() [][]byte {
	var out [][]byte
	for i := range 64 {
		labels := map[string]string{"app": "web"}
		for k := range 50 {
			if (i+k)%7 != 0 {
				labels[fmt.Sprintf("k%02d", k)] = "x"
			}
		}
		sc := map[string]any{"allowPrivilegeEscalation": false, "runAsNonRoot": true, "readOnlyRootFilesystem": true,
			"capabilities": map[string]any{"drop": []string{"ALL"}}, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}
		if i%4 == 0 {
			sc = map[string]any{"privileged": true}
		}
		container := map[string]any{"name": "app", "image": fmt.Sprintf("registry.example.com/app:1.%d.0", i), "securityContext": sc,
			"resources":     map[string]any{"requests": map[string]string{"cpu": "100m", "memory": "64Mi"}, "limits": map[string]string{"cpu": "1", "memory": "256Mi"}},
			"livenessProbe": map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": 8080}}, "readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/readyz", "port": 8080}},
			"env": []map[string]string{{"name": "MODE", "value": "prod"}}, "ports": []map[string]any{{"containerPort": 8080}}}
		obj := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": fmt.Sprintf("web-%d", i), "namespace": "shop", "labels": labels},
			"spec": map[string]any{"replicas": 3, "selector": map[string]any{"matchLabels": map[string]string{"app": "web"}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]string{"app": "web"}},
					"spec": map[string]any{"serviceAccountName": "web", "automountServiceAccountToken": false, "containers": []any{container}}}}}
		raw, _ := json.Marshal(obj)
		review := map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": map[string]any{
			"uid": fmt.Sprintf("u%d", i), "kind": map[string]string{"group": "apps", "version": "v1", "kind": "Deployment"},
			"resource": map[string]string{"group": "apps", "version": "v1", "resource": "deployments"},
			"name":     fmt.Sprintf("web-%d", i), "namespace": "shop", "operation": "CREATE",
			"userInfo": map[string]any{"username": "alice", "groups": []string{"dev"}},
			"object":   json.RawMessage(raw), "dryRun": false}}
		b, _ := json.Marshal(review)
		out = append(out, b)
	}
	return out
}
