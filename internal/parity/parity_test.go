package parity

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/mamori-dev/mamori/internal/cli"
	"github.com/mamori-dev/mamori/internal/testenv"
	"github.com/mamori-dev/mamori/internal/webhook"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// verdict is what one path decided about one object: the policies that
// denied it and those that warned.
type verdict struct {
	Deny []string
	Warn []string
}

func (v verdict) String() string { return fmt.Sprintf("deny%v warn%v", v.Deny, v.Warn) }

// object is one judged manifest object.
type object struct {
	key string // Kind namespace/name
	u   *unstructured.Unstructured
	gvr schema.GroupVersionResource
}

const (
	policiesDir = "testdata/policies"
	manifests   = "testdata/manifests"
	exceptions  = "testdata/exceptions.yaml"
)

var cluster = testenv.NewShared()

func TestMain(m *testing.M) { os.Exit(cluster.Run(m)) }

// TestParity judges one set of manifests (allowed and denied, with
// exceptions active, expired and unused) three ways — `mamori scan
// config`, the `mamori webhook` command registered with a real API
// server, and the output of `mamori policy export --format vap` applied
// to the same API server — and fails on any disagreement about which
// policies deny or warn on which object.
func TestParity(t *testing.T) {
	runParity(t, false)
}

// TestParityBuiltins adds the built-in checks written in CEL: the scan
// and the webhook judge them with their Go implementations, the cluster
// with the exported policies (`policy export --builtin`), and all three
// must agree; built-in findings at or above HIGH deny, lower ones warn.
func TestParityBuiltins(t *testing.T) {
	runParity(t, true)
}

func runParity(t *testing.T, builtins bool) {
	ctx := t.Context()
	set := loadPolicies(t)
	objs, namespaces := readObjects(t)

	// What the export writes decides each compared check's mode.
	exported, modes := export(t, ctx, builtins)

	// (a) The scan, as `mamori scan config --policy ... --ignorefile ...` runs it.
	scanned := scanVerdicts(t, ctx, set, modes)

	cfg := cluster.Config(t)
	cs := testenv.Clientset(t, cfg)
	for _, ns := range namespaces {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}

	// (b) The webhook command, registered with the API server.
	webhooked := webhookVerdicts(t, ctx, cfg, cs, set, objs, modes, builtins)

	// (c) The exported ValidatingAdmissionPolicies on the same API server.
	vaps := vapVerdicts(t, ctx, cfg, cs, exported, objs, modes)

	var keys []string
	for _, o := range objs {
		keys = append(keys, o.key)
	}
	sort.Strings(keys)
	denied, builtinHits := 0, 0
	for _, k := range keys {
		s, w, v := scanned[k], webhooked[k], vaps[k]
		if len(s.Deny) > 0 {
			denied++
		}
		for _, id := range append(slices.Clone(s.Deny), s.Warn...) {
			if set.Get(id) == nil {
				builtinHits++
			}
		}
		if !cmp.Equal(s, w) || !cmp.Equal(s, v) {
			t.Errorf("%s: verdicts differ\n  scan    %v\n  webhook %v\n  VAP     %v", k, s, w, v)
		}
	}
	// The suite must exercise both outcomes and every exception case.
	if denied == 0 || denied == len(keys) {
		t.Errorf("%d of %d objects denied: the suite must have both outcomes", denied, len(keys))
	}
	if builtins && builtinHits == 0 {
		t.Errorf("no built-in check fired: the built-in comparison compared nothing")
	}
	for _, k := range []string{"Deployment shop/legacy-cart", "Deployment shop/vendor-payments"} {
		if slices.Contains(scanned[k].Deny, "team-label-required") || slices.Contains(scanned[k].Deny, "approved-registries") {
			t.Errorf("%s: a live exception should admit it: %v", k, scanned[k])
		}
	}
	if !slices.Contains(scanned["Deployment shop/old-report"].Deny, "team-label-required") {
		t.Errorf("old-report: an expired exception still admits it")
	}
	t.Logf("%d objects, %d checks compared: %d denied, verdicts agree across scan, webhook and ValidatingAdmissionPolicy", len(keys), len(modes), denied)
}

// export runs `mamori policy export --format vap` and reads the mode of
// every exported policy from its annotations.
func export(t *testing.T, ctx context.Context, builtins bool) ([]byte, map[string]policy.Mode) {
	args := []string{"policy", "export", "--format", "vap", "--ignorefile", exceptions, policiesDir}
	if builtins {
		args = append(args, "--builtin")
	}
	var out, errb bytes.Buffer
	if code := cli.Run(ctx, args, cli.IO{Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("policy export: exit %d: %s", code, errb.String())
	}
	parsed := manifest.Parse("vap.yaml", out.Bytes())
	if len(parsed.Errors) > 0 {
		t.Fatal(parsed.Errors)
	}
	modes := map[string]policy.Mode{}
	for _, o := range parsed.Objects {
		u := &unstructured.Unstructured{Object: o.Data()}
		if u.GetKind() == "ValidatingAdmissionPolicy" {
			modes[u.GetName()] = policy.Mode(u.GetAnnotations()[policy.ModeAnnotation])
		}
	}
	return out.Bytes(), modes
}

func loadPolicies(t *testing.T) *policy.Set {
	t.Helper()
	set, err := policy.NewSet(cli.PolicyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if p := set.Load(context.Background(), []string{policiesDir}); len(p) > 0 {
		t.Fatal(p)
	}
	return set
}

func readObjects(t *testing.T) ([]object, []*corev1.Namespace) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(manifests, "*.yaml"))
	var objs []object
	var nss []*corev1.Namespace
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parsed := manifest.Parse(f, data)
		if len(parsed.Errors) > 0 {
			t.Fatal(parsed.Errors)
		}
		for _, o := range parsed.Objects {
			if o.Kind() == "Namespace" {
				var ns corev1.Namespace
				if _, err := o.Decode("", &ns); err != nil {
					t.Fatal(err)
				}
				nss = append(nss, &ns)
				continue
			}
			req := policy.ObjectRequest(o, nil)
			objs = append(objs, object{key: o.Resource().String(), u: req.Object, gvr: req.Resource})
		}
	}
	return objs, nss
}

func scanVerdicts(t *testing.T, ctx context.Context, set *policy.Set, modes map[string]policy.Mode) map[string]verdict {
	sc, err := misconfig.New(misconfig.Options{Policies: set, IgnoreFiles: []string{exceptions},
		Now: func() time.Time { return time.Now() }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sc.Scan(ctx, []string{manifests})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("scan errors: %v", rep.Errors)
	}
	// The unused exception is reported, not silently ignored.
	if !slices.ContainsFunc(rep.Notes, func(p finding.Problem) bool { return strings.Contains(p.Message, "is unused") }) {
		t.Errorf("scan did not report the unused exception: %v", rep.Notes)
	}
	out := map[string]verdict{}
	for _, f := range rep.Findings {
		mode, ok := modes[f.CheckID()]
		if !ok {
			continue // not exportable (PSS, RBAC...): nothing to compare with
		}
		v := out[f.Resource.String()]
		switch mode {
		case policy.Enforce:
			v.Deny = appendSorted(v.Deny, f.CheckID())
		case policy.Warn:
			v.Warn = appendSorted(v.Warn, f.CheckID())
		}
		out[f.Resource.String()] = v
	}
	return out
}

func appendSorted(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	list = append(list, s)
	slices.Sort(list)
	return list
}

// webhookVerdicts runs `mamori webhook` in-process against the API server,
// registers it with the configuration `mamori webhook manifest` writes, and
// dry-run creates every object through the API server.
func webhookVerdicts(t *testing.T, ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, set *policy.Set, objs []object, modes map[string]policy.Mode, builtins bool) map[string]verdict {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeKubeconfig(t, cfg, kubeconfig)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	caFile := filepath.Join(dir, "ca.pem")
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stderr := &syncWriter{w: &bytes.Buffer{}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		cli.Run(wctx, []string{"webhook", "--listen", addr, "--self-signed", "--self-signed-ca-out", caFile,
			"--kubeconfig", kubeconfig, "--policy", policiesDir, "--ignorefile", exceptions, fmt.Sprintf("--builtin=%v", builtins)},
			cli.IO{Out: &bytes.Buffer{}, Err: stderr})
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
	var ca []byte
	waitFor(t, 30*time.Second, "webhook CA", func() bool {
		ca, _ = os.ReadFile(caFile)
		return len(ca) > 0
	})
	vwc, err := webhook.Configuration(webhook.ManifestOptions{Name: "mamori", URL: "https://" + addr + "/validate",
		CABundle: ca, TimeoutSeconds: 10, FailurePolicy: admissionregistrationv1.Fail, Policies: set, Builtin: builtins})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	probe := find(t, objs, "Deployment shop/everything-wrong")
	waitFor(t, 30*time.Second, "webhook enforced", func() bool {
		_, err := create(ctx, cfg, probe, nil)
		return err != nil && strings.Contains(err.Error(), "mamori denied")
	})
	out := map[string]verdict{}
	idRe := regexp.MustCompile(`\[([a-z0-9.-]+)\]`)
	for _, o := range objs {
		var warnings []string
		_, err := create(ctx, cfg, o, &warnings)
		var v verdict
		if err != nil {
			if !strings.Contains(err.Error(), "mamori denied") {
				t.Fatalf("%s: unexpected error (webhook log:\n%s): %v", o.key, stderr.String(), err)
			}
			for _, m := range idRe.FindAllStringSubmatch(err.Error(), -1) {
				if _, ok := modes[m[1]]; ok {
					v.Deny = appendSorted(v.Deny, m[1])
				}
			}
		}
		for _, w := range warnings {
			if m := idRe.FindStringSubmatch(w); m != nil {
				if _, ok := modes[m[1]]; ok {
					v.Warn = appendSorted(v.Warn, m[1])
				}
			}
		}
		if len(v.Deny) > 0 || len(v.Warn) > 0 {
			out[o.key] = v
		}
	}
	if err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, vwc.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	return out
}

// vapVerdicts applies `mamori policy export --format vap` output and
// dry-run creates every object. The API server names only the first
// policy that denied, so a second pass binds the same policies with Warn,
// which reports every failing one.
func vapVerdicts(t *testing.T, ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, yml []byte, objs []object, modes map[string]policy.Mode) map[string]verdict {
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mamori-system"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Apply what the export wrote: the text a user applies.
	parsed := manifest.Parse("vap.yaml", yml)
	if len(parsed.Errors) > 0 {
		t.Fatal(parsed.Errors)
	}
	var bindings []*unstructured.Unstructured
	for _, o := range parsed.Objects {
		u := &unstructured.Unstructured{Object: o.Data()}
		req := policy.ObjectRequest(o, nil)
		if u.GetKind() == "ValidatingAdmissionPolicyBinding" {
			bindings = append(bindings, u)
		}
		if _, err := createObj(ctx, cfg, u, req.Resource, false, nil); err != nil {
			t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		t.Cleanup(func() {
			dyn := dynamic.NewForConfigOrDie(cfg)
			ri := dyn.Resource(req.Resource)
			var err error
			if ns := u.GetNamespace(); ns != "" {
				err = ri.Namespace(ns).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{})
			} else {
				err = ri.Delete(context.Background(), u.GetName(), metav1.DeleteOptions{})
			}
			if err != nil {
				t.Errorf("delete %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		})
	}
	vapIDs := func(s string) []string {
		var ids []string
		for _, m := range regexp.MustCompile(`ValidatingAdmissionPolicy '([a-z0-9.-]+)'`).FindAllStringSubmatch(s, -1) {
			ids = appendSorted(ids, m[1])
		}
		return ids
	}
	probe := find(t, objs, "Deployment shop/everything-wrong")
	waitFor(t, 30*time.Second, "ValidatingAdmissionPolicy enforced", func() bool {
		_, err := create(ctx, cfg, probe, nil)
		return err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy")
	})
	// Pass 1: the bindings as exported. The API server picks policies up
	// over a second or so, not all at once: judge until two passes agree.
	type pass1 struct {
		FirstDeny map[string]string
		Warned    map[string][]string
	}
	p1 := settle(t, func() pass1 {
		r := pass1{FirstDeny: map[string]string{}, Warned: map[string][]string{}}
		for _, o := range objs {
			var warnings []string
			_, err := create(ctx, cfg, o, &warnings)
			if err != nil {
				ids := vapIDs(err.Error())
				if len(ids) != 1 {
					t.Fatalf("%s: unexpected error: %v", o.key, err)
				}
				r.FirstDeny[o.key] = ids[0]
			}
			for _, w := range warnings {
				for _, id := range vapIDs(w) {
					r.Warned[o.key] = appendSorted(r.Warned[o.key], id)
				}
			}
		}
		return r
	})
	firstDeny, warned := p1.FirstDeny, p1.Warned
	// Pass 2: every binding warns, so every failing policy is named.
	dyn := dynamic.NewForConfigOrDie(cfg)
	bgvr := schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
	for _, b := range bindings {
		cur, err := dyn.Resource(bgvr).Get(ctx, b.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedStringSlice(cur.Object, []string{"Warn"}, "spec", "validationActions"); err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Resource(bgvr).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "Warn bindings in effect", func() bool {
		var w []string
		_, err := create(ctx, cfg, probe, &w)
		return err == nil && len(w) > 0
	})
	failing := settle(t, func() map[string][]string {
		r := map[string][]string{}
		for _, o := range objs {
			var warnings []string
			if _, err := create(ctx, cfg, o, &warnings); err != nil {
				t.Fatalf("%s: with Warn bindings: %v", o.key, err)
			}
			for _, w := range warnings {
				for _, id := range vapIDs(w) {
					r[o.key] = appendSorted(r[o.key], id)
				}
			}
		}
		return r
	})
	out := map[string]verdict{}
	for _, o := range objs {
		all := failing[o.key]
		var v verdict
		for _, id := range all {
			if modes[id] == policy.Enforce {
				v.Deny = appendSorted(v.Deny, id)
			} else if slices.Contains(warned[o.key], id) {
				v.Warn = appendSorted(v.Warn, id)
			}
		}
		// Pass 1 must have denied exactly when an enforce policy fails,
		// naming one of them.
		if first, ok := firstDeny[o.key]; ok != (len(v.Deny) > 0) || ok && !slices.Contains(v.Deny, first) {
			t.Errorf("%s: exported bindings denied by %q, but the failing enforce policies are %v", o.key, first, v.Deny)
		}
		if len(v.Deny) > 0 || len(v.Warn) > 0 {
			out[o.key] = v
		}
	}
	return out
}

// settle runs a pass over the objects until two consecutive runs, a
// second and a half apart, agree: the API server applies new and changed
// policies over a second or so.
func settle[T any](t *testing.T, pass func() T) T {
	t.Helper()
	prev := pass()
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(1500 * time.Millisecond)
		cur := pass()
		if cmp.Equal(prev, cur) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("verdicts still changing after 30s:\n%s", cmp.Diff(prev, cur))
		}
		prev = cur
	}
}

func find(t *testing.T, objs []object, key string) object {
	for _, o := range objs {
		if o.key == key {
			return o
		}
	}
	t.Fatalf("no object %s", key)
	return object{}
}

// create dry-run creates the object, collecting the API server's warnings.
func create(ctx context.Context, cfg *rest.Config, o object, warnings *[]string) (*unstructured.Unstructured, error) {
	return createObj(ctx, cfg, o.u.DeepCopy(), o.gvr, true, warnings)
}

func createObj(ctx context.Context, cfg *rest.Config, u *unstructured.Unstructured, gvr schema.GroupVersionResource, dryRun bool, warnings *[]string) (*unstructured.Unstructured, error) {
	c := rest.CopyConfig(cfg)
	if warnings != nil {
		c.WarningHandler = collect{warnings}
	}
	dyn, err := dynamic.NewForConfig(c)
	if err != nil {
		return nil, err
	}
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var ri dynamic.ResourceInterface = dyn.Resource(gvr)
	if ns := u.GetNamespace(); ns != "" {
		ri = dyn.Resource(gvr).Namespace(ns)
	}
	return ri.Create(ctx, u, opts)
}

type collect struct{ into *[]string }

func (c collect) HandleWarningHeader(_ int, _ string, text string) { *c.into = append(*c.into, text) }

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func writeKubeconfig(t *testing.T, cfg *rest.Config, path string) {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
