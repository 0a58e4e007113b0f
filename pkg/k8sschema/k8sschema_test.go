package k8sschema

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// field follows path through s: a property name, "[]" for a list's items or
// "{}" for a map's values.
func field(s *spec.Schema, path string) (*spec.Schema, error) {
	for _, step := range strings.Split(path, ".") {
		switch step {
		case "[]":
			if s.Items == nil || s.Items.Schema == nil {
				return nil, fmt.Errorf("%s: not a list", step)
			}
			s = s.Items.Schema
		case "{}":
			if s.AdditionalProperties == nil || s.AdditionalProperties.Schema == nil {
				return nil, fmt.Errorf("%s: not a map", step)
			}
			s = s.AdditionalProperties.Schema
		default:
			p, ok := s.Properties[step]
			if !ok {
				return nil, fmt.Errorf("no property %q", step)
			}
			s = &p
		}
	}
	return s, nil
}

// typeOf names a schema's type as the tests compare it.
func typeOf(s *spec.Schema) string {
	// Built-in types say int-or-string with the format, CRDs with the
	// extension; CEL accepts both.
	if v, ok := s.Extensions.GetBool("x-kubernetes-int-or-string"); (ok && v) || s.Format == "int-or-string" {
		return "int-or-string"
	}
	if len(s.OneOf) > 0 {
		var types []string
		for _, o := range s.OneOf {
			types = append(types, typeOf(&o))
		}
		return strings.Join(types, "|")
	}
	t := strings.Join(s.Type, ",")
	if s.Format != "" {
		t += "/" + s.Format
	}
	return t
}

func TestResolveSchema(t *testing.T) {
	var (
		pod                = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
		service            = schema.GroupVersionKind{Version: "v1", Kind: "Service"}
		deployment         = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
		cronJob            = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}
		clusterRoleBinding = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}
		networkPolicy      = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}
		crd                = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
	)
	tests := []struct {
		gvk  schema.GroupVersionKind
		path string
		want string
	}{
		{pod, "apiVersion", "string"},
		{pod, "metadata.name", "string"},
		{pod, "metadata.labels.{}", "string"},
		{pod, "metadata.creationTimestamp", "string/date-time"},
		{pod, "spec.containers.[].image", "string"},
		{pod, "spec.containers.[].ports.[].containerPort", "integer/int32"},
		{pod, "spec.containers.[].securityContext.privileged", "boolean"},
		{pod, "spec.containers.[].resources.limits.{}", "string|number"}, // Quantity
		{pod, "spec.securityContext.runAsNonRoot", "boolean"},
		{pod, "spec.volumes.[].hostPath.path", "string"},
		{pod, "spec.hostNetwork", "boolean"},
		{pod, "status.phase", "string"},
		{deployment, "spec.replicas", "integer/int32"},
		{deployment, "spec.selector.matchLabels.{}", "string"},
		{deployment, "spec.template.spec.containers", "array"},
		{deployment, "spec.template.spec.containers.[].image", "string"},
		{deployment, "spec.template.spec.containers.[].env.[].valueFrom.secretKeyRef.name", "string"},
		{deployment, "spec.strategy.rollingUpdate.maxSurge", "int-or-string"},
		{cronJob, "spec.schedule", "string"},
		{cronJob, "spec.suspend", "boolean"},
		{cronJob, "spec.jobTemplate.spec.template.spec.containers.[].image", "string"},
		{service, "spec.type", "string"},
		{service, "spec.ports.[].port", "integer/int32"},
		{service, "spec.ports.[].targetPort", "int-or-string"},
		{clusterRoleBinding, "roleRef.name", "string"},
		{clusterRoleBinding, "subjects.[].kind", "string"},
		{networkPolicy, "spec.podSelector.matchLabels.{}", "string"},
		{networkPolicy, "spec.ingress.[].from.[].ipBlock.cidr", "string"},
		{networkPolicy, "spec.egress.[].ports.[].port", "int-or-string"},
		{networkPolicy, "spec.policyTypes.[]", "string"},
		{crd, "spec.versions.[].schema.openAPIV3Schema.type", "string"},
	}
	r := Resolver()
	for _, tt := range tests {
		t.Run(tt.gvk.Kind+"/"+tt.path, func(t *testing.T) {
			root, err := r.ResolveSchema(tt.gvk)
			if err != nil {
				t.Fatalf("ResolveSchema(%v): %v", tt.gvk, err)
			}
			s, err := field(root, tt.path)
			if err != nil {
				t.Fatalf("%v %s: %v", tt.gvk, tt.path, err)
			}
			if got := typeOf(s); got != tt.want {
				t.Errorf("%v %s: type %q, want %q", tt.gvk, tt.path, got, tt.want)
			}
			if s.Ref.GetURL() != nil {
				t.Errorf("%v %s: unresolved $ref %s", tt.gvk, tt.path, s.Ref.String())
			}
		})
	}
}

func TestResolveSchemaEveryKind(t *testing.T) {
	// Every kind the API server serves (from the discovery data) resolves,
	// except the few whose types the definitions do not cover.
	groups, err := Discovery()
	if err != nil {
		t.Fatal(err)
	}
	r := Resolver()
	var kinds int
	for _, g := range groups {
		for version, resources := range g.VersionedResources {
			for _, res := range resources {
				if strings.Contains(res.Name, "/") {
					continue // subresources have other kinds (Scale, Status...)
				}
				gvk := schema.GroupVersionKind{Group: g.Group.Name, Version: version, Kind: res.Kind}
				if gvk.Group == "apiregistration.k8s.io" {
					// kube-aggregator's APIService is not in the schemes
					// kube-controller-manager names definitions with.
					continue
				}
				kinds++
				s, err := r.ResolveSchema(gvk)
				if err != nil {
					t.Errorf("ResolveSchema(%v): %v", gvk, err)
					continue
				}
				if _, ok := s.Properties["apiVersion"]; !ok {
					t.Errorf("ResolveSchema(%v): no apiVersion property", gvk)
				}
			}
		}
	}
	if kinds < 90 {
		t.Errorf("only %d kinds in the discovery data", kinds)
	}
}

func TestResolveSchemaNotFound(t *testing.T) {
	r := Resolver()
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "NoSuchKind"},
		{Group: "example.com", Version: "v1", Kind: "Widget"},
		{Group: "apps", Version: "v1beta9", Kind: "Deployment"},
		{Group: "extensions", Version: "v1beta1", Kind: "PodSecurityPolicy"},
		{},
	} {
		t.Run(gvk.String(), func(t *testing.T) {
			s, err := r.ResolveSchema(gvk)
			if !errors.Is(err, resolver.ErrSchemaNotFound) {
				t.Errorf("ResolveSchema(%v) = %v, %v; want ErrSchemaNotFound", gvk, s, err)
			}
		})
	}
}

func TestRESTMapper(t *testing.T) {
	m := RESTMapper()
	tests := []struct {
		group, kind string
		version     string // empty: the preferred version
		wantVersion string
		resource    string
		namespaced  bool
	}{
		{"", "Pod", "", "v1", "pods", true},
		{"", "Endpoints", "", "v1", "endpoints", true},
		{"", "Namespace", "", "v1", "namespaces", false},
		{"", "Node", "", "v1", "nodes", false},
		{"", "PersistentVolume", "", "v1", "persistentvolumes", false},
		{"", "ServiceAccount", "", "v1", "serviceaccounts", true},
		{"apps", "Deployment", "", "v1", "deployments", true},
		{"apps", "DaemonSet", "v1", "v1", "daemonsets", true},
		{"batch", "CronJob", "", "v1", "cronjobs", true},
		{"networking.k8s.io", "NetworkPolicy", "", "v1", "networkpolicies", true},
		{"networking.k8s.io", "Ingress", "", "v1", "ingresses", true},
		{"networking.k8s.io", "IngressClass", "", "v1", "ingressclasses", false},
		{"rbac.authorization.k8s.io", "ClusterRoleBinding", "", "v1", "clusterrolebindings", false},
		{"rbac.authorization.k8s.io", "RoleBinding", "", "v1", "rolebindings", true},
		{"policy", "PodDisruptionBudget", "", "v1", "poddisruptionbudgets", true},
		{"storage.k8s.io", "StorageClass", "", "v1", "storageclasses", false},
		{"scheduling.k8s.io", "PriorityClass", "", "v1", "priorityclasses", false},
		{"apiextensions.k8s.io", "CustomResourceDefinition", "", "v1", "customresourcedefinitions", false},
		{"admissionregistration.k8s.io", "ValidatingAdmissionPolicy", "", "v1", "validatingadmissionpolicies", false},
		{"apiregistration.k8s.io", "APIService", "", "v1", "apiservices", false},
		{"coordination.k8s.io", "Lease", "", "v1", "leases", true},
		{"events.k8s.io", "Event", "", "v1", "events", true},
		{"autoscaling", "HorizontalPodAutoscaler", "", "v2", "horizontalpodautoscalers", true},
	}
	for _, tt := range tests {
		t.Run(tt.group+"/"+tt.kind, func(t *testing.T) {
			var versions []string
			if tt.version != "" {
				versions = []string{tt.version}
			}
			mapping, err := m.RESTMapping(schema.GroupKind{Group: tt.group, Kind: tt.kind}, versions...)
			if err != nil {
				t.Fatalf("RESTMapping: %v", err)
			}
			want := schema.GroupVersionResource{Group: tt.group, Version: tt.wantVersion, Resource: tt.resource}
			if mapping.Resource != want {
				t.Errorf("resource %v, want %v", mapping.Resource, want)
			}
			wantScope := meta.RESTScopeNameRoot
			if tt.namespaced {
				wantScope = meta.RESTScopeNameNamespace
			}
			if got := mapping.Scope.Name(); got != wantScope {
				t.Errorf("scope %q, want %q", got, wantScope)
			}
			gvk, err := m.KindFor(want)
			if err != nil || gvk != (schema.GroupVersionKind{Group: tt.group, Version: tt.wantVersion, Kind: tt.kind}) {
				t.Errorf("KindFor(%v) = %v, %v", want, gvk, err)
			}
		})
	}

	t.Run("unknown kinds", func(t *testing.T) {
		for _, gk := range []schema.GroupKind{
			{Group: "policy", Kind: "PodSecurityPolicy"}, // removed in 1.25
			{Group: "example.com", Kind: "Widget"},
		} {
			if _, err := m.RESTMapping(gk); !meta.IsNoMatchError(err) {
				t.Errorf("RESTMapping(%v): %v, want a no-match error", gk, err)
			}
		}
	})
	t.Run("singular", func(t *testing.T) {
		if got, err := m.ResourceSingularizer("networkpolicies"); err != nil || got != "networkpolicy" {
			t.Errorf("ResourceSingularizer(networkpolicies) = %q, %v", got, err)
		}
	})
}

// TestTypeChecker type-checks ValidatingAdmissionPolicies the way
// kube-controller-manager does, with this package's resolver and mapper.
func TestTypeChecker(t *testing.T) {
	checker := &validating.TypeChecker{SchemaResolver: Resolver(), RestMapper: RESTMapper()}
	tests := []struct {
		expression string
		warning    string // substring of the warning; empty: none
	}{
		{"object.spec.replicas <= 5", ""},
		{"object.spec.template.spec.containers.all(c, c.image.startsWith('registry.example/'))", ""},
		{"!has(object.spec.template.spec.hostNetwork) || !object.spec.template.spec.hostNetwork", ""},
		{"object.metadata.labels.all(k, k != 'x')", ""},
		{`object.spec.replicas == "x"`, "no matching overload"},
		{"object.spec.nosuchfield > 1", "undefined field 'nosuchfield'"},
		{"object.spec.template.spec.containers.all(c, c.image > 1)", "no matching overload"},
		{"object.spec.template.spec.hostNetwork == 1", "no matching overload"},
	}
	for _, tt := range tests {
		t.Run(tt.expression, func(t *testing.T) {
			policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "test"},
				Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
					MatchConstraints: &admissionregistrationv1.MatchResources{
						ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
							RuleWithOperations: admissionregistrationv1.RuleWithOperations{
								Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
								Rule: admissionregistrationv1.Rule{
									APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"},
								},
							},
						}},
					},
					Validations: []admissionregistrationv1.Validation{{Expression: tt.expression}},
				},
			}
			warnings := checker.Check(policy)
			switch {
			case tt.warning == "" && len(warnings) > 0:
				t.Errorf("unexpected warnings: %+v", warnings)
			case tt.warning != "" && len(warnings) == 0:
				t.Errorf("no warning, want one containing %q", tt.warning)
			case tt.warning != "" && !strings.Contains(warnings[0].Warning, tt.warning):
				t.Errorf("warning %q, want one containing %q", warnings[0].Warning, tt.warning)
			}
		})
	}
}

func TestConcurrentFirstUse(t *testing.T) {
	r, m := Resolver(), RESTMapper()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := r.ResolveSchema(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}); err != nil {
				t.Error(err)
			}
			if _, err := m.RESTMapping(schema.GroupKind{Group: "apps", Kind: "Deployment"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// TestLoadCost reports what loading the embedded data and resolving every
// kind costs: run with -v.
func TestLoadCost(t *testing.T) {
	heap := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	base := heap()

	start := time.Now()
	r := Resolver()
	if _, err := r.ResolveSchema(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}); err != nil {
		t.Fatal(err)
	}
	resolverTime := time.Since(start)
	loaded := heap()

	start = time.Now()
	m := RESTMapper()
	if _, err := m.RESTMapping(schema.GroupKind{Kind: "Pod"}); err != nil {
		t.Fatal(err)
	}
	mapperTime := time.Since(start)
	mapped := heap()

	groups, err := Discovery()
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	var kinds int
	for _, g := range groups {
		for version, resources := range g.VersionedResources {
			for _, res := range resources {
				if _, err := r.ResolveSchema(schema.GroupVersionKind{Group: g.Group.Name, Version: version, Kind: res.Kind}); err == nil {
					kinds++
				}
			}
		}
	}
	allTime := time.Since(start)
	all := heap()

	t.Logf("resolver: %v to load and resolve Pod, %s retained", resolverTime, mib(loaded-base))
	t.Logf("mapper: %v to load and map Pod, %s retained", mapperTime, mib(mapped-loaded))
	t.Logf("all %d kinds resolved and cached: %v, %s more retained", kinds, allTime, mib(all-mapped))
	runtime.KeepAlive(r)
	runtime.KeepAlive(m)
}

func BenchmarkLoadResolver(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadResolver(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadMapper(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadMapper(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveSchema(b *testing.B) {
	r, err := loadResolver() // uncached
	if err != nil {
		b.Fatal(err)
	}
	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ResolveSchema(gvk); err != nil {
			b.Fatal(err)
		}
	}
}
