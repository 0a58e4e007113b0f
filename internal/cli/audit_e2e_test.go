package cli

// End-to-end tests of `mamori audit` on a real kube-apiserver (envtest):
// the attacks of issue 10 are performed through the API, the API server
// writes its audit log, and the alerts mamori raises on that log are
// compared with what each attack must raise, no more and no less: the
// ordinary traffic of the test, and the admin's setup of the attacks, must
// raise nothing.
//
// Each attack runs as its own user (a client certificate from envtest's
// ControlPlane.AddUser, or a service account token), so that an alert is
// matched to its attack by user, verb, resource and name.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/mamori-dev/mamori/internal/testenv"
	"github.com/mamori-dev/mamori/pkg/audit"
	"github.com/mamori-dev/mamori/pkg/audit/server"
)

// adminUser is envtest's administrator (a member of system:masters): it
// sets the attacks up and does the ordinary traffic. (A namespace's
// objectRef names it twice: namespace and name.)
const adminUser = "admin"

// expect is an alert an attack must raise.
type expect struct {
	rule         string
	user         string
	impersonated string
	verb         string
	resource     string // with the subresource
	namespace    string
	name         string
	code         int32
	// many: an aggregating rule, or an attack that may raise the rule more
	// than once; at least one alert is required.
	many bool
}

func (e expect) String() string {
	s := fmt.Sprintf("%s by %s", e.rule, e.user)
	if e.impersonated != "" {
		s += " as " + e.impersonated
	}
	return s + fmt.Sprintf(": %s %s %s/%s (%d)", e.verb, e.resource, e.namespace, e.name, e.code)
}

// matches reports whether alert a is the one e expects. An aggregating
// alert names the last event of its window, so only the user and rule
// are compared for it.
func (e expect) matches(a audit.Alert) bool {
	if a.Rule != e.rule || a.User != e.user || a.ImpersonatedUser != e.impersonated {
		return false
	}
	if e.rule == "forbidden-burst" {
		return true
	}
	return a.Verb == e.verb && a.Resource == e.resource && a.Namespace == e.namespace &&
		a.Name == e.name && a.ResponseCode == e.code
}

// eventMatches reports whether audit event ev is the request e is about,
// which checks that the attack really reached the API server in the shape
// the rule reads.
func (e expect) eventMatches(ev *audit.Event) bool {
	if ev.Stage != audit.StageResponseComplete || ev.User.Username != e.user {
		return false
	}
	imp := ""
	if ev.ImpersonatedUser != nil {
		imp = ev.ImpersonatedUser.Username
	}
	if imp != e.impersonated || ev.Verb != e.verb || ev.Resource() != e.resource || ev.Code() != e.code {
		return false
	}
	ns, name := "", ""
	if ev.ObjectRef != nil {
		ns, name = ev.ObjectRef.Namespace, ev.ObjectRef.Name
	}
	return ns == e.namespace && name == e.name
}

// rig is a running API server with audit logging and the users the attacks
// run as.
type rig struct {
	env     *testenv.Env
	admin   kubernetes.Interface
	logPath string
}

// catchAllPolicy records every request with its bodies: more than the
// rules need.
const catchAllPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: RequestResponse
`

// startAuditedAPIServer starts an API server auditing with the policy
// file at policyPath and writing its audit log to a file in the test's
// directory, with anonymous requests authenticated (so that RBAC decides
// what system:anonymous may do) and extra options.
func startAuditedAPIServer(t *testing.T, policyPath string, opts ...testenv.Option) *rig {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "audit.log")
	opts = append([]testenv.Option{
		testenv.APIServerArg("audit-policy-file", policyPath),
		testenv.APIServerArg("audit-log-path", logPath),
		testenv.APIServerArg("anonymous-auth", "true"),
	}, opts...)
	env := testenv.StartEnv(t, opts...)
	return &rig{env: env, admin: testenv.Clientset(t, env.Config), logPath: logPath}
}

// user returns a client authenticated by a client certificate as name in
// groups.
func (r *rig) user(t *testing.T, name string, groups ...string) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	u, err := r.env.Environment.ControlPlane.AddUser(envtest.User{Name: name, Groups: groups}, r.env.Config)
	if err != nil {
		t.Fatalf("adding user %s: %v", name, err)
	}
	cfg := u.Config()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cs
}

// serviceAccountToken creates a service account (as the admin) and returns
// a client that uses a token requested for it.
func (r *rig) serviceAccountToken(t *testing.T, ctx context.Context, ns, name string) kubernetes.Interface {
	t.Helper()
	noErr(t, create(ctx, r.admin.CoreV1().ServiceAccounts(ns), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	tr, err := r.admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	cfg := rest.AnonymousClientConfig(r.env.Config)
	cfg.BearerToken = tr.Status.Token
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// creator is the Create method every typed client has.
type creator[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
}

func create[T any](ctx context.Context, c creator[T], obj T) error {
	_, err := c.Create(ctx, obj, metav1.CreateOptions{})
	return err
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func pod(ns, name string, mutate func(*corev1.PodSpec)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.example/app@sha256:" + strings.Repeat("ab", 32),
		}}},
	}
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

// Namespaces of the attacks and of the ordinary traffic.
const (
	nsAttack = "attack"
	nsOpen   = "open"
	nsApp    = "app"
)

// tokenRequests are the service accounts the test requests tokens for (as
// the admin): sa-token-outside fires on each when loopback is outside the
// cluster's networks.
var tokenRequests = [][2]string{{nsAttack, "reader"}, {nsAttack, "eve"}, {nsApp, "app-sa"}}

// attack performs the attacks of issue 10 through the API and returns the
// alerts each must raise. The requests' audit events, as kube-apiserver
// 1.37 writes them, are noted beside each.
func attack(t *testing.T, ctx context.Context, r *rig) []expect {
	t.Helper()
	admin := r.admin
	var want []expect
	for _, ns := range []string{nsAttack, nsOpen} {
		noErr(t, create(ctx, admin.CoreV1().Namespaces(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	noErr(t, create(ctx, admin.CoreV1().Pods(nsAttack), pod(nsAttack, "target", nil)))

	// Exec, attach and port-forward without the SPDY upgrade: there is no
	// kubelet, so the API server answers 400 "pod does not have a host
	// assigned", after the authorizer allowed the request. Audited as
	// verb create, objectRef {resource: pods, subresource: exec}, code 400.
	{
		_, ex := r.user(t, "exec-er", "system:masters")
		for _, sub := range []string{"exec", "attach", "portforward"} {
			req := ex.CoreV1().RESTClient().Post().Namespace(nsAttack).Resource("pods").Name("target").SubResource(sub)
			if sub == "exec" {
				req = req.Param("command", "sh").Param("stdout", "true")
			} else if sub == "attach" {
				req = req.Param("stdout", "true")
			}
			res := req.Do(ctx)
			var code int
			res.StatusCode(&code)
			if code != http.StatusBadRequest {
				t.Errorf("%s: status %d (%v), want 400 (no host assigned)", sub, code, res.Error())
			}
			want = append(want, expect{rule: "pod-exec", user: "exec-er", verb: "create", resource: "pods/" + sub, namespace: nsAttack, name: "target", code: 400})
		}
		want = append(want, expect{rule: "exec-shell", user: "exec-er", verb: "create", resource: "pods/exec", namespace: nsAttack, name: "target", code: 400})
	}

	// Pods that break out of their container. The pods stay Pending.
	{
		_, pr := r.user(t, "breakout", "system:masters")
		pods := map[string]func(*corev1.PodSpec){
			"priv-pod": func(s *corev1.PodSpec) {
				s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			},
			"hostpid-pod": func(s *corev1.PodSpec) { s.HostPID = true },
			"hostpath-pod": func(s *corev1.PodSpec) {
				s.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
				s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "root", MountPath: "/host"}}
			},
		}
		for name, mutate := range pods {
			noErr(t, create(ctx, pr.CoreV1().Pods(nsAttack), pod(nsAttack, name, mutate)))
			want = append(want, expect{rule: "privileged-pod", user: "breakout", verb: "create", resource: "pods", namespace: nsAttack, name: name, code: 201})
		}
	}

	// A new service account given a Role to read secrets, which it does
	// with a requested token. The Role itself is dangerous (it reads
	// secrets), created by the admin.
	{
		noErr(t, create(ctx, admin.CoreV1().Secrets(nsAttack), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "db-password"}, StringData: map[string]string{"password": "hunter2"}}))
		noErr(t, create(ctx, admin.RbacV1().Roles(nsAttack), &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}},
		}))
		want = append(want, expect{rule: "rbac-dangerous-role", user: adminUser, verb: "create", resource: "roles", namespace: nsAttack, name: "secret-reader", code: 201})
		noErr(t, create(ctx, admin.RbacV1().RoleBindings(nsAttack), &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "reader-secrets"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "secret-reader"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: nsAttack}},
		}))
		reader := r.serviceAccountToken(t, ctx, nsAttack, "reader")
		sa := "system:serviceaccount:" + nsAttack + ":reader"
		// RBAC takes effect at once (the authorizer reads an informer, so
		// retry briefly).
		eventually(t, "reader gets the secret", func() error {
			_, err := reader.CoreV1().Secrets(nsAttack).Get(ctx, "db-password", metav1.GetOptions{})
			return err
		})
		_, err := reader.CoreV1().Secrets(nsAttack).List(ctx, metav1.ListOptions{})
		noErr(t, err)
		want = append(want,
			expect{rule: "secret-read-unusual", user: sa, verb: "get", resource: "secrets", namespace: nsAttack, name: "db-password", code: 200, many: true},
			expect{rule: "secret-read-unusual", user: sa, verb: "list", resource: "secrets", namespace: nsAttack, code: 200})
	}

	// RBAC: a binding to cluster-admin, wildcard and exec roles, a change
	// to a system: role.
	{
		_, rb := r.user(t, "rbac-er", "system:masters")
		noErr(t, create(ctx, rb.RbacV1().ClusterRoleBindings(), &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "backdoor"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "intruder"}},
		}))
		noErr(t, create(ctx, rb.RbacV1().ClusterRoles(), &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "wildcard"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"*"}}},
		}))
		noErr(t, create(ctx, rb.RbacV1().ClusterRoles(), &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "execer"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}},
		}))
		_, err := rb.RbacV1().ClusterRoles().Patch(ctx, "system:discovery", types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"backdoor":"yes"}}}`), metav1.PatchOptions{})
		noErr(t, err)
		want = append(want,
			expect{rule: "cluster-admin-binding", user: "rbac-er", verb: "create", resource: "clusterrolebindings", name: "backdoor", code: 201},
			expect{rule: "rbac-dangerous-role", user: "rbac-er", verb: "create", resource: "clusterroles", name: "wildcard", code: 201},
			expect{rule: "rbac-dangerous-role", user: "rbac-er", verb: "create", resource: "clusterroles", name: "execer", code: 201},
			expect{rule: "system-clusterrole-changed", user: "rbac-er", verb: "patch", resource: "clusterroles", name: "system:discovery", code: 200})
	}

	// A person with edit rights hides a pod and a service account in
	// kube-system.
	{
		// Not the aggregated "edit": without kube-controller-manager it
		// has no rules.
		noErr(t, create(ctx, admin.RbacV1().ClusterRoles(), &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "serviceaccounts"}, Verbs: []string{"create"}}},
		}))
		noErr(t, create(ctx, admin.RbacV1().ClusterRoleBindings(), &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "mallory-deployer"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "deployer"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "mallory"}},
		}))
		_, mal := r.user(t, "mallory")
		eventually(t, "mallory creates a pod in kube-system", func() error {
			return create(ctx, mal.CoreV1().Pods("kube-system"), pod("kube-system", "kube-proxy-x", nil))
		})
		noErr(t, create(ctx, mal.CoreV1().ServiceAccounts("kube-system"), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "kube-helper"}}))
		want = append(want,
			expect{rule: "kube-system-workload", user: "mallory", verb: "create", resource: "pods", namespace: "kube-system", name: "kube-proxy-x", code: 201},
			expect{rule: "kube-system-workload", user: "mallory", verb: "create", resource: "serviceaccounts", namespace: "kube-system", name: "kube-helper", code: 201})
	}

	// Anonymous access bound to real permissions: system:anonymous may
	// list pods in namespace open. Audited as user system:anonymous,
	// groups [system:unauthenticated], verb list, code 200.
	{
		noErr(t, create(ctx, admin.RbacV1().Roles(nsOpen), &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-viewer"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
		}))
		noErr(t, create(ctx, admin.RbacV1().RoleBindings(nsOpen), &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "anonymous-pods"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-viewer"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "system:anonymous"}},
		}))
		hc := anonymousHTTPClient(t, r.env.Config)
		eventually(t, "anonymous lists pods in open", func() error {
			resp, err := hc.Get(strings.TrimSuffix(r.env.Config.Host, "/") + "/api/v1/namespaces/" + nsOpen + "/pods")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
		want = append(want, expect{rule: "anonymous-allowed", user: "system:anonymous", verb: "list", resource: "pods", namespace: nsOpen, code: 200})
	}

	// Impersonation: a user acts as another (with the group that lets
	// the impersonated user read).
	{
		cfg, _ := r.user(t, "imperson8r", "system:masters")
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "bob", Groups: []string{"system:masters"}}
		cs, err := kubernetes.NewForConfig(cfg)
		noErr(t, err)
		_, err = cs.CoreV1().Namespaces().Get(ctx, nsAttack, metav1.GetOptions{})
		noErr(t, err)
		want = append(want, expect{rule: "impersonation", user: "imperson8r", impersonated: "bob", verb: "get", resource: "namespaces", namespace: nsAttack, name: nsAttack, code: 200})
	}

	// nodes/proxy: the kubelet API through the API server. The node has no
	// address, so the proxy fails after the authorizer allowed it.
	{
		noErr(t, create(ctx, admin.CoreV1().Nodes(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}))
		_, np := r.user(t, "proxier", "system:masters")
		res := np.CoreV1().RESTClient().Get().Resource("nodes").Name("node-1").SubResource("proxy").Suffix("pods").Do(ctx)
		var code int
		res.StatusCode(&code)
		want = append(want, expect{rule: "node-proxy", user: "proxier", verb: "get", resource: "nodes/proxy", name: "node-1", code: int32(code)})
	}

	// Events deleted.
	{
		noErr(t, create(ctx, admin.CoreV1().Events(nsAttack), &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "target.evidence"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: nsAttack, Name: "target"},
			Reason:         "Exec", Message: "someone ran a shell", Type: corev1.EventTypeNormal,
		}))
		_, cl := r.user(t, "cleaner", "system:masters")
		noErr(t, cl.CoreV1().Events(nsAttack).Delete(ctx, "target.evidence", metav1.DeleteOptions{}))
		want = append(want, expect{rule: "events-deleted", user: "cleaner", verb: "delete", resource: "events", namespace: nsAttack, name: "target.evidence", code: 200})
	}

	// An admission webhook configuration, matching nothing this test does.
	{
		_, hk := r.user(t, "hooker", "system:masters")
		noErr(t, create(ctx, hk.AdmissionregistrationV1().ValidatingWebhookConfigurations(), &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "evil-hook"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:                    "evil.example.com",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/validate")},
				Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"example.com"}, APIVersions: []string{"v1"}, Resources: []string{"widgets"}}}},
				FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
				SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
				AdmissionReviewVersions: []string{"v1"},
			}},
		}))
		want = append(want, expect{rule: "webhook-config-changed", user: "hooker", verb: "create", resource: "validatingwebhookconfigurations", name: "evil-hook", code: 201})
	}

	// A client certificate signing request, approved by a person.
	{
		csr := &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "csr-intruder"},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request:    csrPEM(t, "intruder"),
				SignerName: certificatesv1.KubeAPIServerClientSignerName,
				Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
			},
		}
		noErr(t, create(ctx, admin.CertificatesV1().CertificateSigningRequests(), csr))
		_, ap := r.user(t, "approver", "system:masters")
		got, err := ap.CertificatesV1().CertificateSigningRequests().Get(ctx, csr.Name, metav1.GetOptions{})
		noErr(t, err)
		got.Status.Conditions = append(got.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Approved", Message: "looks fine",
		})
		_, err = ap.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, got, metav1.UpdateOptions{})
		noErr(t, err)
		want = append(want, expect{rule: "csr-approved", user: "approver", verb: "update", resource: "certificatesigningrequests/approval", name: csr.Name, code: 200})
	}

	// Permission discovery: a service account with no roles tries 25
	// reads, refused with 403.
	{
		eve := r.serviceAccountToken(t, ctx, nsAttack, "eve")
		for i := range 25 {
			_, err := eve.CoreV1().ConfigMaps(nsAttack).Get(ctx, fmt.Sprintf("cm-%d", i), metav1.GetOptions{})
			if err == nil || !strings.Contains(err.Error(), "forbidden") {
				t.Fatalf("eve's read %d: %v, want forbidden", i, err)
			}
		}
		want = append(want, expect{rule: "forbidden-burst", user: "system:serviceaccount:" + nsAttack + ":eve", many: true})
	}
	return want
}

// ordinary is the test's ordinary work, which must raise no alert: an
// admin deploying an application, reading and watching, and a service
// account reading its own configuration.
func ordinary(t *testing.T, ctx context.Context, r *rig) {
	t.Helper()
	admin := r.admin
	noErr(t, create(ctx, admin.CoreV1().Namespaces(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsApp}}))
	noErr(t, create(ctx, admin.CoreV1().ConfigMaps(nsApp), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "app-config"}, Data: map[string]string{"mode": "production"}}))
	noErr(t, create(ctx, admin.AppsV1().Deployments(nsApp), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       pod(nsApp, "", nil).Spec,
			},
		},
	}))
	noErr(t, create(ctx, admin.CoreV1().Services(nsApp), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}))
	noErr(t, create(ctx, admin.CoreV1().Pods(nsApp), pod(nsApp, "web-1", nil)))
	_, err := admin.CoreV1().Pods(nsApp).List(ctx, metav1.ListOptions{})
	noErr(t, err)
	_, err = admin.CoreV1().Pods(nsApp).Get(ctx, "web-1", metav1.GetOptions{})
	noErr(t, err)
	w, err := admin.CoreV1().Pods(nsApp).Watch(ctx, metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)})
	noErr(t, err)
	for range w.ResultChan() {
	}
	_, err = admin.CoreV1().ConfigMaps(nsApp).Patch(ctx, "app-config", types.MergePatchType, []byte(`{"data":{"mode":"staging"}}`), metav1.PatchOptions{})
	noErr(t, err)
	noErr(t, admin.CoreV1().Pods(nsApp).Delete(ctx, "web-1", metav1.DeleteOptions{}))

	noErr(t, create(ctx, admin.RbacV1().Roles(nsApp), &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "own-config"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app-config"}, Verbs: []string{"get"}}},
	}))
	noErr(t, create(ctx, admin.RbacV1().RoleBindings(nsApp), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "app-sa-config"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "own-config"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "app-sa", Namespace: nsApp}},
	}))
	sa := r.serviceAccountToken(t, ctx, nsApp, "app-sa")
	eventually(t, "app-sa reads its configmap", func() error {
		_, err := sa.CoreV1().ConfigMaps(nsApp).Get(ctx, "app-config", metav1.GetOptions{})
		return err
	})
}

// eventually retries f for a few seconds: RBAC objects reach the
// authorizer through an informer.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for range 100 {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// anonymousHTTPClient trusts the API server's CA and presents no
// credentials.
func anonymousHTTPClient(t *testing.T, cfg *rest.Config) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.CAData) {
		t.Fatal("the API server's config has no CA")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// csrPEM is a PKCS#10 request for a client certificate for user.
func csrPEM(t *testing.T, user string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	noErr(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: user}}, key)
	noErr(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// readAuditLog reads the API server's audit log (JSON lines).
func readAuditLog(t *testing.T, path string) []*audit.Event {
	t.Helper()
	f, err := os.Open(path)
	noErr(t, err)
	defer f.Close()
	var evs []*audit.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for line := 1; sc.Scan(); line++ {
		ev := new(audit.Event)
		if err := json.Unmarshal(sc.Bytes(), ev); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		ev.Pos = audit.Position{File: path, Line: line}
		evs = append(evs, ev)
	}
	noErr(t, sc.Err())
	return evs
}

// waitForAuditLog waits until the log holds an event of every expected
// request: the log backend writes asynchronously.
func waitForAuditLog(t *testing.T, path string, want []expect) []*audit.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := readAuditLog(t, path)
		var missing []string
		for _, w := range want {
			if w.rule == "forbidden-burst" {
				n := 0
				for _, ev := range evs {
					if ev.User.Username == w.user && ev.Code() == 403 && ev.Stage == audit.StageResponseComplete {
						n++
					}
				}
				if n < 25 {
					missing = append(missing, fmt.Sprintf("%s: %d forbidden events, want 25", w, n))
				}
				continue
			}
			if !slices.ContainsFunc(evs, w.eventMatches) {
				missing = append(missing, w.String())
			}
		}
		if len(missing) == 0 {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log %s has no event of:\n  %s", path, strings.Join(missing, "\n  "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// recommendedPolicy writes the output of `mamori audit policy` to a file
// in the test's directory and returns its path: the API servers of these
// tests audit with what mamori recommends, so a rule the policy starves
// loses its alerts here.
func recommendedPolicy(t *testing.T) string {
	t.Helper()
	code, out, errs := run(t, "", "audit", "policy")
	if code != ExitClean {
		t.Fatalf("mamori audit policy: exit %d\n%s", code, errs)
	}
	return writePolicy(t, out)
}

func writePolicy(t *testing.T, policy string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	noErr(t, os.WriteFile(path, []byte(policy), 0o600))
	return path
}

// TestAuditPolicyCheck checks the recommended policy with `mamori audit
// policy check`, and a Metadata catch-all, which starves the rules that
// read request bodies.
func TestAuditPolicyCheck(t *testing.T) {
	rec := recommendedPolicy(t)
	code, out, errs := run(t, "", "audit", "policy", "check", rec)
	if code != ExitClean || !strings.Contains(out, "feeds all") {
		t.Errorf("policy check of the recommended policy: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	meta := writePolicy(t, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
	code, out, errs = run(t, "", "audit", "policy", "check", meta)
	if code != ExitFindings || !strings.Contains(out, "starves privileged-pod") {
		t.Errorf("policy check of a Metadata catch-all: exit %d, want %d naming privileged-pod\nstdout:\n%s\nstderr:\n%s", code, ExitFindings, out, errs)
	}
}

// TestAuditAttacksLogged runs the attacks and the ordinary traffic against
// a real API server auditing with the recommended policy, checks that its
// log records each attack in the shape the rules read, and that `mamori
// audit scan` raises exactly the attacks' alerts on it. A second API
// server auditing everything with bodies shows the rules need no more
// than the recommended policy gives.
func TestAuditAttacksLogged(t *testing.T) {
	t.Run("recommended policy", func(t *testing.T) {
		r := startAuditedAPIServer(t, recommendedPolicy(t))
		keepAuditLog(t, r.logPath)
		ctx := t.Context()
		ordinary(t, ctx, r)
		want := attack(t, ctx, r)
		evs := waitForAuditLog(t, r.logPath, want)
		t.Logf("%d audit events", len(evs))

		t.Run("scan", func(t *testing.T) {
			assertAlerts(t, cliAlerts(t, "", ExitFindings, "--format", "json", r.logPath), want)
		})
		t.Run("exit code", func(t *testing.T) {
			assertAlerts(t, cliAlerts(t, "", 3, "--format", "json", "--exit-code", "3", r.logPath), want)
		})
		t.Run("token outside cluster_networks", func(t *testing.T) {
			got := cliAlerts(t, "", ExitFindings, "--format", "json", "--list", "cluster_networks=10.0.0.0/8", r.logPath)
			assertAlerts(t, got, append(slices.Clone(want), tokenOutside()...))
		})
		t.Run("ignorefile", func(t *testing.T) {
			got := cliAlerts(t, "", ExitFindings, "--format", "json", "--ignorefile", "testdata/audit/ignore.yaml", r.logPath)
			assertAlerts(t, got, withoutRule(want, "pod-exec", "exec-er"))
		})
		t.Run("gzip on stdin", func(t *testing.T) {
			log, err := os.ReadFile(r.logPath)
			noErr(t, err)
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			_, err = zw.Write(log)
			noErr(t, err)
			noErr(t, zw.Close())
			assertAlerts(t, cliAlerts(t, gz.String(), ExitFindings, "--format", "json", "-"), want)
		})
		t.Run("text", func(t *testing.T) {
			code, out, errs := run(t, "", "audit", "scan", "--format", "text", "--exit-code", "5", r.logPath)
			if code != 5 {
				t.Fatalf("exit %d, want 5\nstderr:\n%s", code, errs)
			}
			assertTextAlerts(t, out, want)
		})
	})

	t.Run("catch-all policy", func(t *testing.T) {
		r := startAuditedAPIServer(t, writePolicy(t, catchAllPolicy))
		ctx := t.Context()
		ordinary(t, ctx, r)
		want := attack(t, ctx, r)
		waitForAuditLog(t, r.logPath, want)
		assertAlerts(t, cliAlerts(t, "", ExitFindings, "--format", "json", r.logPath), want)
	})
}

// assertTextAlerts checks the text blocks of `audit scan --format text`:
// one block per alert, its first line "TIME SEVERITY RULE ...", naming
// every rule expected and no other.
func assertTextAlerts(t *testing.T, out string, want []expect) {
	t.Helper()
	got := map[string]int{}
	for line := range strings.Lines(out) {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue // a detail line
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Errorf("text alert line %q: want TIME SEVERITY RULE ...", line)
			continue
		}
		if _, err := time.Parse(time.RFC3339, f[0]); err != nil {
			t.Errorf("text alert line %q: %v", line, err)
		}
		got[f[2]]++
	}
	wantRules := map[string]bool{}
	for _, e := range want {
		wantRules[e.rule] = true
		if got[e.rule] == 0 {
			t.Errorf("the text output names no %s alert", e.rule)
		}
	}
	for rule, n := range got {
		if !wantRules[rule] {
			t.Errorf("the text output has %d unexpected %s alerts", n, rule)
		}
	}
}

// cliAlerts runs `mamori audit scan args...` with stdin, wants exit code
// wantCode and returns the alerts of its JSON lines.
func cliAlerts(t *testing.T, stdin string, wantCode int, args ...string) []audit.Alert {
	t.Helper()
	code, out, errs := run(t, stdin, append([]string{"audit", "scan"}, args...)...)
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, wantCode, errs)
	}
	return parseAlerts(t, "stdout", out)
}

// parseAlerts decodes JSON lines of alerts.
func parseAlerts(t *testing.T, name, jsonl string) []audit.Alert {
	t.Helper()
	var got []audit.Alert
	for i, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		if line == "" {
			continue
		}
		var a audit.Alert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("%s line %d: %v: %s", name, i+1, err, line)
		}
		got = append(got, a)
	}
	return got
}

// tokenOutside is what sa-token-outside raises on the test's token
// requests when loopback is outside the cluster's networks.
func tokenOutside() []expect {
	var out []expect
	for _, sa := range tokenRequests {
		out = append(out, expect{rule: "sa-token-outside", user: adminUser, verb: "create", resource: "serviceaccounts/token", namespace: sa[0], name: sa[1], code: 201})
	}
	return out
}

// withoutRule drops the expectations of rule for user.
func withoutRule(want []expect, rule, user string) []expect {
	return slices.DeleteFunc(slices.Clone(want), func(e expect) bool { return e.rule == rule && e.user == user })
}

// assertAlerts checks that every expectation is met by an alert (exactly
// one unless many) and that every alert meets an expectation: the
// ordinary traffic and the admin's setup raise nothing.
func assertAlerts(t *testing.T, got []audit.Alert, want []expect) {
	t.Helper()
	t.Logf("%d alerts, %d expected", len(got), len(want))
	n := make([]int, len(want))
	for _, a := range got {
		i := slices.IndexFunc(want, func(e expect) bool { return e.matches(a) })
		if i < 0 {
			t.Errorf("unexpected alert %s by %q (as %q): %s %s %s/%s (%d) at %s: %s",
				a.Rule, a.User, a.ImpersonatedUser, a.Verb, a.Resource, a.Namespace, a.Name, a.ResponseCode, a.Source, a.Output)
			continue
		}
		n[i]++
		if a.AuditID == "" || a.Technique == "" || a.Severity == "" || a.Output == "" || a.Time.IsZero() {
			t.Errorf("alert %s lacks an audit ID, technique, severity, output or time: %+v", want[i], a)
		}
		if want[i].rule == "forbidden-burst" && (a.Count < 20 || len(a.AuditIDs) == 0) {
			t.Errorf("forbidden-burst counted %d events (audit IDs %v), want at least 20", a.Count, a.AuditIDs)
		}
	}
	for i, e := range want {
		switch {
		case n[i] == 0:
			t.Errorf("no alert %s", e)
		case n[i] > 1 && !e.many:
			t.Errorf("%d alerts %s, want 1", n[i], e)
		}
	}
}

// keepAuditLog copies the audit log to $MAMORI_KEEP_AUDIT_LOG when the
// test ends, to look at what the API server wrote.
func keepAuditLog(t *testing.T, path string) {
	keep := os.Getenv("MAMORI_KEEP_AUDIT_LOG")
	if keep == "" {
		return
	}
	t.Cleanup(func() {
		if data, err := os.ReadFile(path); err == nil {
			os.WriteFile(keep, data, 0o600)
		}
	})
}

// burstUser reads a configmap many times; the recommended policy audits
// config maps at Metadata, cheap for the API server.
const burstUser = "burster"

// webhookPKI is a CA made for the test, the endpoint's serving certificate
// for 127.0.0.1 and the API server's client certificate, both signed by
// the CA, in files for the command and PEM for the kubeconfig.
type webhookPKI struct {
	caFile, certFile, keyFile    string
	caPEM, clientCert, clientKey []byte
	client                       tls.Certificate
	pool                         *x509.CertPool
}

func newWebhookPKI(t *testing.T, dir string) *webhookPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	noErr(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e audit webhook CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	noErr(t, err)
	ca, err := x509.ParseCertificate(caDER)
	noErr(t, err)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		noErr(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		noErr(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		noErr(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	p := &webhookPKI{
		caFile: filepath.Join(dir, "ca.crt"), certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key"),
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pool:  x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	serverCert, serverKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(3, "kube-apiserver-audit", x509.ExtKeyUsageClientAuth)
	p.client, err = tls.X509KeyPair(p.clientCert, p.clientKey)
	noErr(t, err)
	noErr(t, os.WriteFile(p.caFile, p.caPEM, 0o600))
	noErr(t, os.WriteFile(p.certFile, serverCert, 0o600))
	noErr(t, os.WriteFile(p.keyFile, serverKey, 0o600))
	return p
}

// kubeconfig is the API server's --audit-webhook-config-file for the
// endpoint at addr: it trusts the CA and presents the client certificate.
func (p *webhookPKI) kubeconfig(t *testing.T, dir, addr string) string {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	path := filepath.Join(dir, "webhook.kubeconfig")
	noErr(t, os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: mamori
  cluster:
    server: https://%s/audit
    certificate-authority-data: %s
contexts:
- name: mamori
  context: {cluster: mamori, user: apiserver}
current-context: mamori
users:
- name: apiserver
  user:
    client-certificate-data: %s
    client-key-data: %s
`, addr, b64(p.caPEM), b64(p.clientCert), b64(p.clientKey))), 0o600))
	return path
}

// idLog reads the audit IDs `mamori audit serve --events-log` writes to a
// FIFO, once released. Until then the command's engine blocks writing the
// IDs of the events it takes from its queue, as it would behind a slow
// rule or sink: the queue fills and the endpoint answers 429.
type idLog struct {
	f       *os.File
	release chan struct{}
	once    sync.Once
	done    chan struct{}

	mu  sync.Mutex
	n   map[string]int // audit ID → events received
	err error
}

// newIDLog makes a FIFO at path and opens its reading end, so that the
// command's open for writing does not block.
func newIDLog(t *testing.T, path string) *idLog {
	t.Helper()
	noErr(t, syscall.Mkfifo(path, 0o600))
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	noErr(t, err)
	l := &idLog{f: f, release: make(chan struct{}), done: make(chan struct{}), n: map[string]int{}}
	go func() {
		defer close(l.done)
		<-l.release
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			l.mu.Lock()
			l.n[sc.Text()]++
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.err = sc.Err()
		l.mu.Unlock()
	}()
	return l
}

// start lets the reader drain the FIFO. Call it only once the command has
// opened it for writing: before that, a read is the end of the file.
func (l *idLog) start() { l.once.Do(func() { close(l.release) }) }

func (l *idLog) counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.n)
}

// metric sums the samples of a counter in Prometheus text whose labels
// include match (e.g. `reason="queue_full"`; empty for all).
func metric(text, name, match string) float64 {
	var sum float64
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		labels, value := "", rest
		if rest[0] == '{' {
			i := strings.LastIndexByte(rest, '}')
			labels, value = rest[:i+1], rest[i+1:]
		}
		if !strings.Contains(labels, match) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(value), &v); err == nil {
			sum += v
		}
	}
	return sum
}

// TestAuditWebhookBackend points the API server's webhook backend (beside
// its log backend, both with the recommended policy) at `mamori audit
// serve`, run in-process as a user runs it: the attacks raise the same
// alerts as from the log, and under a burst that fills the endpoint's
// queue (429s, retried by the API server) every event the log backend
// wrote arrives exactly once.
func TestAuditWebhookBackend(t *testing.T) {
	const queueSize, burst, workers = 500, 5000, 16
	dir := t.TempDir()
	pki := newWebhookPKI(t, dir)
	addrFile, alertsFile, idsFile := filepath.Join(dir, "addr"), filepath.Join(dir, "alerts.jsonl"), filepath.Join(dir, "ids")
	ids := newIDLog(t, idsFile)
	defer ids.f.Close()

	ctx, cancel := context.WithCancel(context.Background())
	serveErr := new(lockedWriter) // the command logs from several goroutines
	exit := make(chan int, 1)
	go func() {
		exit <- Run(ctx, []string{"audit", "serve", "--listen", "127.0.0.1:0", "--addr-file", addrFile,
			"--tls-cert-file", pki.certFile, "--tls-key-file", pki.keyFile, "--client-ca-file", pki.caFile,
			"--queue-size", strconv.Itoa(queueSize),
			// Refuse a batch soon when the queue is full: the API server
			// retries it after its backoff, and the burst is quick.
			"--queue-wait", "100ms",
			"--format", "json", "--output", alertsFile, "--events-log", idsFile},
			IO{In: strings.NewReader(""), Out: io.Discard, Err: serveErr})
	}()
	stopped := false
	stop := func() int {
		cancel()
		ids.start() // a held engine would never finish
		code := <-exit
		stopped = true
		<-ids.done
		return code
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})

	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			addr = string(b)
			break
		}
		select {
		case code := <-exit:
			stopped = true
			t.Fatalf("mamori audit serve exited %d before listening:\n%s", code, serveErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("mamori audit serve wrote no --addr-file in 10s")
		}
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}, MinVersion: tls.VersionTLS12}}}
	metrics := func() string {
		t.Helper()
		resp, err := hc.Get("https://" + addr + "/metrics")
		noErr(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		noErr(t, err)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %s: %s", resp.Status, b)
		}
		return string(b)
	}

	r := startAuditedAPIServer(t, recommendedPolicy(t),
		testenv.APIServerArg("audit-webhook-config-file", pki.kubeconfig(t, dir, addr)),
		testenv.APIServerArg("audit-webhook-batch-max-wait", "1s"),
		testenv.APIServerArg("audit-webhook-initial-backoff", "1s"))
	keepAuditLog(t, r.logPath)
	tctx := t.Context()

	// The burst first, with the engine held back: the queue fills, the
	// endpoint answers 429, the API server retries.
	cfg, _ := r.user(t, burstUser, "system:masters")
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
	bc, err := kubernetes.NewForConfig(cfg)
	noErr(t, err)
	noErr(t, create(tctx, r.admin.CoreV1().ConfigMaps("default"), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hot"}}))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < burst; i += workers {
				if _, err := bc.CoreV1().ConfigMaps("default").Get(tctx, "hot", metav1.GetOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("burst: %v", err)
	}
	// Hold the engine until the endpoint has refused a batch (or a few
	// seconds passed), then let it drain.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if metric(metrics(), "mamori_audit_dropped_total", `reason="`+server.DropQueueFull+`"`) > 0 {
			break
		}
	}
	ids.start()
	if n := metric(metrics(), "mamori_audit_dropped_total", `reason="`+server.DropQueueFull+`"`); n == 0 {
		t.Errorf("the queue of %d never refused a batch during a burst of %d: no back-pressure was tested", queueSize, burst)
	} else {
		t.Logf("%.0f events refused with 429 and retried", n)
	}

	ordinary(t, tctx, r)
	want := attack(t, tctx, r)
	waitForAuditLog(t, r.logPath, want)
	// The cutoff: a request after every other. The events of the log up to
	// its own are compared with what the endpoint received.
	_, err = r.admin.CoreV1().ConfigMaps("default").Get(tctx, "cutoff", metav1.GetOptions{})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("cutoff request: %v, want not found", err)
	}

	// wantIDs counts the log's events per audit ID up to the cutoff
	// request's; the events log holds IDs only, one line per event.
	wantIDs := func() (map[string]int, int, bool) {
		evs := readAuditLog(t, r.logPath)
		n, bursts, found := map[string]int{}, 0, false
		for _, ev := range evs {
			if found {
				break
			}
			n[ev.AuditID]++
			if ev.User.Username == burstUser && ev.Verb == "get" {
				bursts++
			}
			found = ev.User.Username == adminUser && ev.ObjectRef != nil && ev.ObjectRef.Name == "cutoff"
		}
		return n, bursts, found
	}
	var inLog map[string]int
	var bursts int
	var missing []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		var found bool
		inLog, bursts, found = wantIDs()
		got := ids.counts()
		missing = missing[:0]
		for id, n := range inLog {
			if got[id] < n {
				missing = append(missing, fmt.Sprintf("%s (%d of %d events)", id, got[id], n))
			}
		}
		if found && len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			if !found {
				t.Fatal("the cutoff request is not in the audit log after 60s")
			}
			slices.Sort(missing)
			t.Fatalf("%d audit IDs of the log never reached the endpoint in full, first: %s", len(missing), strings.Join(missing[:min(5, len(missing))], "; "))
		}
	}
	if bursts != burst {
		t.Errorf("the log holds %d burst reads, want %d", bursts, burst)
	}
	// Nothing was lost: every refusal was a 429 the API server retried.
	m := metrics()
	if all, full := metric(m, "mamori_audit_dropped_total", ""), metric(m, "mamori_audit_dropped_total", `reason="`+server.DropQueueFull+`"`); all != full {
		t.Errorf("mamori_audit_dropped_total: %.0f, of which %.0f queue_full: other events were dropped\n%s", all, full, m)
	}
	received := 0
	for _, n := range ids.counts() {
		received += n
	}
	if got := metric(m, "mamori_audit_events_total", `source="webhook"`); int(got) < received {
		t.Errorf("mamori_audit_events_total{source=\"webhook\"} = %.0f, want at least the %d events received", got, received)
	}

	// The API server first: it flushes its webhook backend to a live
	// endpoint rather than retrying a gone one until its stop times out.
	noErr(t, r.env.Environment.Stop())
	if code := stop(); code != ExitClean {
		t.Errorf("mamori audit serve exited %d, want 0:\n%s", code, serveErr.String())
	}
	if ids.err != nil {
		t.Errorf("reading the events log: %v", ids.err)
	}
	// Exactly once: the events log, complete now, holds each event of the
	// log up to the cutoff once, and no event the log does not hold.
	got := ids.counts()
	full := map[string]int{}
	for _, ev := range readAuditLog(t, r.logPath) {
		full[ev.AuditID]++
	}
	for id, n := range inLog {
		// A request that spans the cutoff has later stages after it.
		if got[id] < n || got[id] > full[id] {
			t.Errorf("audit ID %s: %d events received, the log has %d up to the cutoff (%d in all)", id, got[id], n, full[id])
		}
	}
	for id, n := range got {
		if n > full[id] {
			t.Errorf("audit ID %s: %d events received, the log has %d", id, n, full[id])
		}
	}
	t.Logf("%d events of %d requests up to the cutoff, each received once", sumValues(inLog), len(inLog))

	data, err := os.ReadFile(alertsFile)
	noErr(t, err)
	assertAlerts(t, parseAlerts(t, alertsFile, string(data)), want)
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// lockedWriter is a buffer several goroutines write to.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
