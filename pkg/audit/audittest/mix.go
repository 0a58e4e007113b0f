// Package audittest makes audit logs for benchmarks and load tests: a
// realistic mix of a busy cluster's API traffic, as the API server's log
// backend writes it (audit.k8s.io/v1 Event JSON lines, level Metadata, and
// Request where the recommended policy records bodies).
//
// The mix is what the control plane of a 50-node cluster does all day:
// some 90% of requests come from the cluster's own components (kubelets,
// controllers, the scheduler, kube-proxy, CoreDNS): about 60% of all are
// reads and watches, most of the rest lease renewals, status patches and
// events. Then deployers applying workloads with request bodies, people
// reading, and a thin trickle of what rules are for (an exec, a 403, a
// secret read by an unusual service account).
package audittest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// template is one kind of request of the mix.
type template struct {
	weight   int
	user     string
	groups   string // JSON array body, without brackets
	agent    string
	verb     string
	group    string // API group ("" core)
	version  string
	resource string
	sub      string
	ns       string // "" cluster-scoped; "*" a random app namespace
	name     string // "" none (list); "*" random
	code     int
	body     string // requestObject JSON, "" none
	ip       string
}

const (
	nodesGroups = `"system:nodes","system:authenticated"`
	authGroups  = `"system:authenticated"`
	saGroups    = `"system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"`
	appSAGroups = `"system:serviceaccounts","system:serviceaccounts:argocd","system:authenticated"`
)

const deploymentBody = `{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","namespace":"shop","labels":{"app":"web"}},` +
	`"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},` +
	`"spec":{"containers":[{"name":"web","image":"registry.example.com/shop/web:1.4.2","ports":[{"containerPort":8080}],` +
	`"resources":{"limits":{"cpu":"500m","memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},` +
	`"securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]},"seccompProfile":{"type":"RuntimeDefault"}}}]}}}}`

const podBody = `{"kind":"Pod","apiVersion":"v1","metadata":{"generateName":"web-7d4b9c-","namespace":"shop","labels":{"app":"web"},` +
	`"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d4b9c","uid":"1b2c","controller":true}]},` +
	`"spec":{"containers":[{"name":"web","image":"registry.example.com/shop/web:1.4.2",` +
	`"securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"seccompProfile":{"type":"RuntimeDefault"}}}]}}`

var templates = []template{
	// Kubelets: watches and gets of what their pods use, status, leases, events.
	{weight: 160, user: "system:node:node-%d", groups: nodesGroups, agent: "kubelet/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "watch", version: "v1", resource: "pods", code: 200, ip: "10.0.1.%d"},
	{weight: 90, user: "system:node:node-%d", groups: nodesGroups, agent: "kubelet/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "get", version: "v1", resource: "configmaps", ns: "*", name: "*", code: 200, ip: "10.0.1.%d"},
	{weight: 40, user: "system:node:node-%d", groups: nodesGroups, agent: "kubelet/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "get", version: "v1", resource: "secrets", ns: "*", name: "*", code: 200, ip: "10.0.1.%d"},
	{weight: 120, user: "system:node:node-%d", groups: nodesGroups, agent: "kubelet/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "update", group: "coordination.k8s.io", version: "v1", resource: "leases", ns: "kube-node-lease", name: "node-%d", code: 200, ip: "10.0.1.%d"},
	{weight: 40, user: "system:node:node-%d", groups: nodesGroups, agent: "kubelet/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "patch", version: "v1", resource: "pods", sub: "status", ns: "*", name: "*", code: 200, ip: "10.0.1.%d"},
	{weight: 20, user: "system:node:node-%d", groups: nodesGroups, agent: "kubelet/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "patch", version: "v1", resource: "nodes", sub: "status", name: "node-%d", code: 200, ip: "10.0.1.%d"},
	{weight: 20, user: "system:node:node-%d", groups: nodesGroups, agent: "kubelet/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "create", group: "", version: "v1", resource: "serviceaccounts", sub: "token", ns: "*", name: "default", code: 201, ip: "10.0.1.%d"},
	// Controllers, scheduler, kube-proxy, CoreDNS, the API server itself.
	{weight: 80, user: "system:kube-controller-manager", groups: authGroups, agent: "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/4b1d2e3/shared-informers", verb: "list", group: "apps", version: "v1", resource: "replicasets", code: 200, ip: "10.0.0.10"},
	{weight: 60, user: "system:kube-controller-manager", groups: authGroups, agent: "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/4b1d2e3/leader-election", verb: "update", group: "coordination.k8s.io", version: "v1", resource: "leases", ns: "kube-system", name: "kube-controller-manager", code: 200, ip: "10.0.0.10"},
	{weight: 30, user: "system:serviceaccount:kube-system:replicaset-controller", groups: saGroups, agent: "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/4b1d2e3/system:serviceaccount:kube-system:replicaset-controller", verb: "create", version: "v1", resource: "pods", ns: "shop", code: 201, body: podBody, ip: "10.0.0.10"},
	{weight: 30, user: "system:serviceaccount:kube-system:endpointslice-controller", groups: saGroups, agent: "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/4b1d2e3/system:serviceaccount:kube-system:endpointslice-controller", verb: "update", group: "discovery.k8s.io", version: "v1", resource: "endpointslices", ns: "*", name: "*", code: 200, ip: "10.0.0.10"},
	{weight: 50, user: "system:kube-scheduler", groups: authGroups, agent: "kube-scheduler/v1.37.2 (linux/amd64) kubernetes/4b1d2e3/scheduler", verb: "watch", version: "v1", resource: "pods", code: 200, ip: "10.0.0.11"},
	{weight: 20, user: "system:kube-scheduler", groups: authGroups, agent: "kube-scheduler/v1.37.2 (linux/amd64) kubernetes/4b1d2e3/scheduler", verb: "create", version: "v1", resource: "pods", sub: "binding", ns: "*", name: "*", code: 201, ip: "10.0.0.11"},
	{weight: 40, user: "system:kube-proxy", groups: authGroups, agent: "kube-proxy/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "watch", group: "discovery.k8s.io", version: "v1", resource: "endpointslices", code: 200, ip: "10.0.1.%d"},
	{weight: 30, user: "system:serviceaccount:kube-system:coredns", groups: saGroups, agent: "coredns/v1.12.1 (linux/amd64) kubernetes/4b1d2e3", verb: "watch", version: "v1", resource: "services", code: 200, ip: "10.244.0.5"},
	{weight: 30, user: "system:apiserver", groups: `"system:authenticated","system:masters"`, agent: "kube-apiserver/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "get", version: "v1", resource: "namespaces", name: "default", code: 200, ip: "::1"},
	{weight: 20, user: "system:kube-controller-manager", groups: authGroups, agent: "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/4b1d2e3/shared-informers", verb: "create", group: "events.k8s.io", version: "v1", resource: "events", ns: "*", code: 201, ip: "10.0.0.10"},
	// Deployers and people.
	{weight: 15, user: "system:serviceaccount:argocd:argocd-application-controller", groups: appSAGroups, agent: "argocd-application-controller/v3.1.0", verb: "patch", group: "apps", version: "v1", resource: "deployments", ns: "shop", name: "web", code: 200, body: deploymentBody, ip: "10.244.3.17"},
	{weight: 15, user: "system:serviceaccount:argocd:argocd-application-controller", groups: appSAGroups, agent: "argocd-application-controller/v3.1.0", verb: "list", group: "apps", version: "v1", resource: "deployments", code: 200, ip: "10.244.3.17"},
	{weight: 20, user: "alice@example.com", groups: `"developers","system:authenticated"`, agent: "kubectl/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "list", version: "v1", resource: "pods", ns: "shop", code: 200, ip: "192.168.5.20"},
	{weight: 10, user: "alice@example.com", groups: `"developers","system:authenticated"`, agent: "kubectl/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "get", group: "apps", version: "v1", resource: "deployments", ns: "shop", name: "web", code: 200, ip: "192.168.5.20"},
	{weight: 3, user: "bob@example.com", groups: `"developers","system:authenticated"`, agent: "kubectl/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "get", version: "v1", resource: "secrets", ns: "kube-system", name: "*", code: 403, ip: "192.168.5.21"},
	{weight: 1, user: "alice@example.com", groups: `"developers","system:authenticated"`, agent: "kubectl/v1.37.2 (linux/amd64) kubernetes/4b1d2e3", verb: "create", version: "v1", resource: "pods", sub: "exec", ns: "shop", name: "*", code: 101, ip: "192.168.5.20"},
	{weight: 1, user: "system:serviceaccount:shop:web", groups: `"system:serviceaccounts","system:serviceaccounts:shop","system:authenticated"`, agent: "curl/8.5.0", verb: "list", version: "v1", resource: "secrets", ns: "shop", code: 200, ip: "10.244.2.9"},
	{weight: 5, user: "system:anonymous", groups: `"system:unauthenticated"`, agent: "kube-probe/1.37", verb: "get", code: 200, ip: "10.0.1.%d"},
}

var namespaces = []string{"shop", "payments", "search", "monitoring", "ingress-nginx", "kube-system"}

// Mix returns n audit events as JSON lines, drawn from the mix with a fixed
// seed (the same n gives the same lines), stamped from start on, about
// every 100 µs.
func Mix(n int, seed uint64, start time.Time) [][]byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	total := 0
	for _, t := range templates {
		total += t.weight
	}
	out := make([][]byte, n)
	for i := range out {
		w := r.IntN(total)
		var t template
		for _, t = range templates {
			if w < t.weight {
				break
			}
			w -= t.weight
		}
		out[i] = render(r, t, start.Add(time.Duration(i)*100*time.Microsecond))
	}
	return out
}

func render(r *rand.Rand, t template, ts time.Time) []byte {
	node := r.IntN(50) + 1
	fill := func(s string) string {
		if strings.Contains(s, "%d") {
			return fmt.Sprintf(s, node)
		}
		return s
	}
	ns, name := t.ns, fill(t.name)
	if ns == "*" {
		ns = namespaces[r.IntN(len(namespaces))]
	}
	if name == "*" {
		name = fmt.Sprintf("%s-%x", t.resource, r.Uint32()&0xfffff)
	}
	var b strings.Builder
	b.Grow(1200 + len(t.body))
	level := "Metadata"
	if t.body != "" {
		level = "Request"
	}
	stage := "ResponseComplete"
	if t.verb == "watch" || t.code == 101 {
		stage = "ResponseStarted"
	}
	uri := requestURI(t, ns, name)
	fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":%q,"auditID":"%08x-%04x-4%03x-8%03x-%012x","stage":%q,"requestURI":%q,"verb":%q,`,
		level, r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff, stage, uri, t.verb)
	fmt.Fprintf(&b, `"user":{"username":%q,"groups":[%s]},"sourceIPs":[%q],"userAgent":%q,`, fill(t.user), t.groups, fill(t.ip), t.agent)
	if t.resource != "" {
		fmt.Fprintf(&b, `"objectRef":{"resource":%q`, t.resource)
		if ns != "" {
			fmt.Fprintf(&b, `,"namespace":%q`, ns)
		}
		if name != "" {
			fmt.Fprintf(&b, `,"name":%q`, name)
		}
		if t.group != "" {
			fmt.Fprintf(&b, `,"apiGroup":%q`, t.group)
		}
		fmt.Fprintf(&b, `,"apiVersion":%q`, t.version)
		if t.sub != "" {
			fmt.Fprintf(&b, `,"subresource":%q`, t.sub)
		}
		b.WriteString("},")
	}
	status := "Success"
	if t.code >= 400 {
		status = "Failure"
	}
	fmt.Fprintf(&b, `"responseStatus":{"metadata":{},"status":%q,"code":%d},`, status, t.code)
	if t.body != "" {
		fmt.Fprintf(&b, `"requestObject":%s,`, t.body)
	}
	recv := ts.UTC().Format("2006-01-02T15:04:05.000000Z")
	done := ts.Add(1500 * time.Microsecond).UTC().Format("2006-01-02T15:04:05.000000Z")
	decision, reason := "allow", fmt.Sprintf(`RBAC: allowed by ClusterRoleBinding \"%s\" of ClusterRole \"%s\" to User \"%s\"`, "binding-"+t.resource, "role-"+t.resource, fill(t.user))
	if t.code == 403 {
		decision, reason = "forbid", ""
	}
	fmt.Fprintf(&b, `"requestReceivedTimestamp":%q,"stageTimestamp":%q,"annotations":{"authorization.k8s.io/decision":%q,"authorization.k8s.io/reason":"%s"}}`,
		recv, done, decision, reason)
	return []byte(b.String())
}

func requestURI(t template, ns, name string) string {
	if t.resource == "" {
		return "/readyz"
	}
	p := "/api/" + t.version
	if t.group != "" {
		p = "/apis/" + t.group + "/" + t.version
	}
	if ns != "" {
		p += "/namespaces/" + ns
	}
	p += "/" + t.resource
	if name != "" {
		p += "/" + name
	}
	if t.sub != "" {
		p += "/" + t.sub
	}
	switch {
	case t.verb == "watch":
		p += "?allowWatchBookmarks=true&resourceVersion=123456&timeout=8m2s&timeoutSeconds=482&watch=true"
	case t.verb == "list":
		p += "?limit=500&resourceVersion=0"
	case t.sub == "exec":
		p += "?command=sh&container=web&stdin=true&stdout=true&tty=true"
	}
	return p
}
