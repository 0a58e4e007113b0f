package misconfig

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

const k8sSecurityContext = "https://kubernetes.io/docs/tasks/configure-pod-container/security-context/"

func hygieneChecks() []check {
	return []check{
		{rule: &finding.Rule{
			ID: "k8s-readonly-root-filesystem", Title: "Writable root filesystem", Severity: finding.Medium,
			Description: "A writable root filesystem lets an attacker drop binaries and persist changes inside the container.",
			Remediation: "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the application writes.",
			References:  []string{k8sSecurityContext},
			Controls:    []finding.Control{cis("5.7.3", "Apply SecurityContext to your Pods and Containers"), nsaImmutable, nistRuntimeConfig, mitreImplant},
		}, pod: readOnlyRootFS},
		{rule: &finding.Rule{
			ID: "k8s-root-group", Title: "Runs with root group", Severity: finding.Low,
			Description: "GID 0 gives the process the root group's access to files on shared volumes and in the image.",
			Remediation: "Set runAsGroup, fsGroup and supplementalGroups to non-zero GIDs.",
			References:  []string{k8sSecurityContext},
			Controls:    []finding.Control{cis("5.7.3", "Apply SecurityContext to your Pods and Containers"), nsaNonRoot, nistRuntimeConfig},
		}, pod: rootGroup},
		{rule: &finding.Rule{
			ID: "k8s-dangerous-capabilities", Title: "Dangerous capability added", Severity: finding.High,
			Description: "Capabilities such as SYS_ADMIN, NET_ADMIN, SYS_PTRACE, SYS_MODULE or NET_RAW give a process near-root power over the node or its network.",
			Remediation: "Remove the capability from securityContext.capabilities.add; drop ALL and add back only what the process needs (usually NET_BIND_SERVICE).",
			References:  []string{"https://man7.org/linux/man-pages/man7/capabilities.7.html", k8sSecurityContext},
			Controls: []finding.Control{cis("5.2.8", "Minimize the admission of containers with the NET_RAW capability"),
				cis("5.2.9", "Minimize the admission of containers with added capabilities"), nsaHardening, nistRuntimeConfig, mitreEscape, mitrePrivEsc},
		}, pod: dangerousCapabilities},
		{rule: &finding.Rule{
			ID: "k8s-image-tag-latest", Title: "Image tag is latest or missing", Severity: finding.Medium,
			Description: "An image without a tag, or tagged latest, changes under the workload: what runs is not what was reviewed or scanned.",
			Remediation: "Use an immutable version tag, ideally with a digest (image: repo:1.2.3@sha256:...).",
			References:  []string{"https://kubernetes.io/docs/concepts/containers/images/#image-names"},
			Controls:    []finding.Control{nsaSecureImages, nistUntrusted, mitreMalImage},
		}, pod: imageTagLatest},
		{rule: &finding.Rule{
			ID: "k8s-image-digest", Title: "Image not pinned by digest", Severity: finding.Low,
			Description: "A tag can be moved to another image; only a digest names exactly one image.",
			Remediation: "Pin the image by digest (image: repo:1.2.3@sha256:...).",
			References:  []string{"https://kubernetes.io/docs/concepts/containers/images/#image-names"},
			Controls:    []finding.Control{nsaSecureImages, nistUntrusted, mitreImplant},
		}, pod: imageDigest},
		{rule: &finding.Rule{
			ID: "k8s-automount-sa-token", Title: "Service account token mounted", Severity: finding.Medium,
			Description: "Unless disabled, every container gets a token for the pod's service account; a compromised container can then call the Kubernetes API as that account.",
			Remediation: "Set automountServiceAccountToken: false on the pod (or on its ServiceAccount) unless the workload calls the API.",
			References:  []string{"https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#opt-out-of-api-credential-automounting"},
			Controls:    []finding.Control{cis("5.1.6", "Ensure that Service Account Tokens are only mounted where necessary"), nsaSAToken, nistAdmin, mitreStealToken, mitreContainerAPI},
		}, pod: automountToken},
		{rule: &finding.Rule{
			ID: "k8s-default-namespace", Title: "Object in the default namespace", Severity: finding.Low,
			Description: "The default namespace mixes unrelated workloads and is where policies and RBAC are weakest.",
			Remediation: "Deploy into a dedicated namespace.",
			References:  []string{"https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/"},
			Controls:    []finding.Control{cis("5.7.4", "The default namespace should not be used"), nsaNamespaces, nistMixing},
		}, object: defaultNamespace},
		{rule: &finding.Rule{
			ID: "k8s-default-service-account", Title: "Default service account used", Severity: finding.Low,
			Description: "Workloads that share the namespace's default service account share whatever permissions it is ever granted.",
			Remediation: "Create a dedicated ServiceAccount per workload and set serviceAccountName.",
			References:  []string{"https://kubernetes.io/docs/concepts/security/service-accounts/"},
			Controls:    []finding.Control{cis("5.1.5", "Ensure that default service accounts are not actively used"), nsaSAToken, nistAdmin, mitreDefaultAcct},
		}, pod: defaultServiceAccount},
		{rule: &finding.Rule{
			ID: "k8s-sensitive-host-path", Title: "Sensitive host path mounted", Severity: finding.Critical,
			Description: "Mounting the container runtime socket, /, /etc, /proc, /sys, /var/run, the kubelet's directory or similar gives the container control of the node.",
			Remediation: "Remove the hostPath volume; if a node agent truly needs it, mount the narrowest path read-only and isolate the workload.",
			References:  []string{"https://kubernetes.io/docs/concepts/storage/volumes/#hostpath"},
			Controls:    []finding.Control{cis("5.2.12", "Minimize the admission of HostPath volumes"), nsaEnforcement, nistHostFS, mitreEscape, mitreAdminCmd},
		}, pod: sensitiveHostPath},
		{rule: &finding.Rule{
			ID: "k8s-secret-in-env", Title: "Secret-looking literal in environment variable", Severity: finding.High,
			Description: "A credential written into the manifest is readable by anyone who can read the manifest, the object or the pod's environment.",
			Remediation: "Move the value into a Secret (or an external secret store) and reference it with valueFrom.secretKeyRef or a mounted file.",
			References:  []string{"https://kubernetes.io/docs/concepts/configuration/secret/"},
			Controls:    []finding.Control{cis("5.4.1", "Prefer using Secrets as files over Secrets as environment variables"), nsaSecrets, nistSecrets, mitreCredFiles},
		}, pod: secretInEnv},
		{rule: &finding.Rule{
			ID: "k8s-sensitive-host-port", Title: "Sensitive host port", Severity: finding.High,
			Description: "Binding a well-known control-plane, runtime or remote-access port on the node (SSH, Docker, etcd, kubelet, API server) shadows or exposes node services.",
			Remediation: "Remove the hostPort; expose the workload through a Service.",
			References:  []string{"https://kubernetes.io/docs/reference/networking/ports-and-protocols/"},
			Controls:    []finding.Control{cis("5.2.13", "Minimize the admission of containers which use HostPorts"), nsaEnforcement, nistNetwork},
		}, pod: sensitiveHostPort},
		resourceCheck("k8s-cpu-requests", "CPU request not set", finding.Low, "requests", corev1.ResourceCPU,
			"Without a CPU request the scheduler cannot place the pod sensibly and it is first to starve under contention."),
		resourceCheck("k8s-cpu-limits", "CPU limit not set", finding.Low, "limits", corev1.ResourceCPU,
			"Without a CPU limit one container can monopolise its node's CPU (some teams choose requests without limits on purpose: ignore this check then)."),
		resourceCheck("k8s-memory-requests", "Memory request not set", finding.Low, "requests", corev1.ResourceMemory,
			"Without a memory request the scheduler can overcommit the node and the pod is evicted first."),
		resourceCheck("k8s-memory-limits", "Memory limit not set", finding.Medium, "limits", corev1.ResourceMemory,
			"Without a memory limit one container can exhaust its node's memory and take its neighbours down."),
		probeCheck("k8s-liveness-probe", "Liveness probe not set", "livenessProbe",
			"Without a liveness probe a hung container keeps running and serving errors."),
		probeCheck("k8s-readiness-probe", "Readiness probe not set", "readinessProbe",
			"Without a readiness probe traffic reaches the container before it can serve and while it is failing."),
	}
}

func resourceCheck(id, title string, sev finding.Severity, kind string, res corev1.ResourceName, desc string) check {
	rule := &finding.Rule{
		ID: id, Title: title, Severity: sev, Description: desc,
		Remediation: fmt.Sprintf("Set resources.%s.%s on every container (or enforce defaults with a LimitRange).", kind, res),
		References:  []string{"https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/"},
		Controls:    []finding.Control{nsaResources, nistRuntimeConfig, mitreDoS, mitreHijack},
	}
	return check{rule: rule, pod: func(p *pod, em *emitter) {
		for _, ref := range p.containers() {
			if ref.field == "ephemeralContainers" {
				continue // ephemeral containers cannot have resources
			}
			list := ref.c.Resources.Requests
			if kind == "limits" {
				list = ref.c.Resources.Limits
			}
			if _, ok := list[res]; !ok {
				em.add(rule, fmt.Sprintf("%s.resources.%s.%s", ref.path, kind, res), fmt.Sprintf("%s has no %s %s", ref.name(), string(res), strings.TrimSuffix(kind, "s")))
			}
		}
	}}
}

func probeCheck(id, title, field, desc string) check {
	rule := &finding.Rule{
		ID: id, Title: title, Severity: finding.Low, Description: desc + " Not applied to Jobs, CronJobs and init containers, which run to completion.",
		Remediation: fmt.Sprintf("Add a %s (httpGet, tcpSocket, grpc or exec) to every long-running container.", field),
		References:  []string{"https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/"},
		Controls:    []finding.Control{nistRuntimeConfig},
	}
	return check{rule: rule, pod: func(p *pod, em *emitter) {
		if p.batch {
			return
		}
		for _, ref := range p.containers() {
			if ref.field == "ephemeralContainers" || (ref.field == "initContainers" && !ref.sidecar()) {
				continue
			}
			probe := ref.c.LivenessProbe
			if field == "readinessProbe" {
				probe = ref.c.ReadinessProbe
			}
			if probe == nil {
				em.add(rule, ref.path+"."+field, fmt.Sprintf("%s has no %s", ref.name(), field))
			}
		}
	}}
}

// regular lists the containers that run the workload: ephemeral debug
// containers are added by operators at run time, not shipped in manifests.
func regular(p *pod) []containerRef {
	refs := p.containers()
	// Ephemeral containers come last: cut them off without copying.
	for i, r := range refs {
		if r.field == "ephemeralContainers" {
			return refs[:i]
		}
	}
	return refs
}

func readOnlyRootFS(p *pod, em *emitter) {
	for _, ref := range regular(p) {
		if sc := ref.c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			em.add(em.rule(), ref.path+".securityContext.readOnlyRootFilesystem", ref.name()+" does not set securityContext.readOnlyRootFilesystem: true")
		}
	}
}

func rootGroup(p *pod, em *emitter) {
	if psc := p.spec.SecurityContext; psc != nil {
		if psc.RunAsGroup != nil && *psc.RunAsGroup == 0 {
			em.add(em.rule(), p.specPath+".securityContext.runAsGroup", "pod sets runAsGroup: 0")
		}
		if psc.FSGroup != nil && *psc.FSGroup == 0 {
			em.add(em.rule(), p.specPath+".securityContext.fsGroup", "pod sets fsGroup: 0")
		}
		if i := slices.Index(psc.SupplementalGroups, 0); i >= 0 {
			em.add(em.rule(), fmt.Sprintf("%s.securityContext.supplementalGroups[%d]", p.specPath, i), "pod adds supplemental group 0")
		}
	}
	for _, ref := range regular(p) {
		if sc := ref.c.SecurityContext; sc != nil && sc.RunAsGroup != nil && *sc.RunAsGroup == 0 {
			em.add(em.rule(), ref.path+".securityContext.runAsGroup", ref.name()+" sets runAsGroup: 0")
		}
	}
}

// dangerousCaps are capabilities that amount to control of the node or its
// network, with why.
var dangerousCaps = map[string]string{
	"ALL":             "every capability",
	"SYS_ADMIN":       "mount, namespaces, BPF and much more: near root on the node",
	"SYS_MODULE":      "loads kernel modules",
	"SYS_PTRACE":      "traces and injects into other processes",
	"SYS_RAWIO":       "raw I/O to devices and memory",
	"SYS_BOOT":        "reboots the node",
	"SYS_TIME":        "sets the node's clock",
	"NET_ADMIN":       "reconfigures network interfaces, routes and firewalls",
	"NET_RAW":         "raw sockets: spoofing and ARP/DNS poisoning",
	"DAC_READ_SEARCH": "reads any file, bypassing permissions (shocker escape)",
	"DAC_OVERRIDE":    "writes any file, bypassing permissions",
	"BPF":             "loads BPF programs",
	"PERFMON":         "reads kernel performance data",
	"MAC_ADMIN":       "changes LSM (AppArmor/SELinux) policy",
	"SYSLOG":          "reads the kernel log and kernel addresses",
}

func dangerousCapabilities(p *pod, em *emitter) {
	for _, ref := range regular(p) {
		sc := ref.c.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			continue
		}
		for i, c := range sc.Capabilities.Add {
			name := strings.TrimPrefix(strings.ToUpper(string(c)), "CAP_")
			if why, ok := dangerousCaps[name]; ok {
				em.add(em.rule(), fmt.Sprintf("%s.securityContext.capabilities.add[%d]", ref.path, i), fmt.Sprintf("%s adds %s (%s)", ref.name(), name, why))
			}
		}
	}
}

// imageRef splits an image reference into its tag and digest.
func imageRef(image string) (tag, digest string) {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image, digest = image[:i], image[i+1:]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		tag = image[i+1:]
	}
	return tag, digest
}

func imageTagLatest(p *pod, em *emitter) {
	for _, ref := range p.containers() {
		img := strings.TrimSpace(ref.c.Image)
		tag, digest := imageRef(img)
		switch {
		case img == "":
			em.add(em.rule(), ref.path+".image", ref.name()+" has no image")
		case digest != "":
		case tag == "":
			em.add(em.rule(), ref.path+".image", fmt.Sprintf("%s image %q has no tag (means latest)", ref.name(), img))
		case tag == "latest":
			em.add(em.rule(), ref.path+".image", fmt.Sprintf("%s image %q uses the latest tag", ref.name(), img))
		}
	}
}

func imageDigest(p *pod, em *emitter) {
	for _, ref := range p.containers() {
		img := strings.TrimSpace(ref.c.Image)
		if _, digest := imageRef(img); img != "" && digest == "" {
			em.add(em.rule(), ref.path+".image", fmt.Sprintf("%s image %q is not pinned by digest", ref.name(), img))
		}
	}
}

func automountToken(p *pod, em *emitter) {
	if a := p.spec.AutomountServiceAccountToken; a != nil {
		if *a {
			em.add(em.rule(), p.specPath+".automountServiceAccountToken", "pod sets automountServiceAccountToken: true")
		}
		return
	}
	sa := serviceAccountName(p.spec)
	// The pod inherits its ServiceAccount's setting: decided once every
	// object has been read.
	em.saChecks = append(em.saChecks, saCheck{namespace: em.res.Namespace, name: sa,
		finding: em.build(em.rule(), p.specPath+".automountServiceAccountToken",
			fmt.Sprintf("pod does not set automountServiceAccountToken: false and service account %q does not either", sa))})
}

func serviceAccountName(s *corev1.PodSpec) string {
	sa := s.ServiceAccountName
	if sa == "" {
		sa = s.DeprecatedServiceAccount
	}
	if sa == "" {
		sa = "default"
	}
	return sa
}

func defaultNamespace(o *manifest.Object, em *emitter) {
	if o.Namespace() == "default" {
		em.add(em.rule(), "metadata.namespace", fmt.Sprintf("%s is in the default namespace", o.Kind()))
	}
}

func defaultServiceAccount(p *pod, em *emitter) {
	if serviceAccountName(p.spec) != "default" {
		return
	}
	path := p.specPath + ".serviceAccountName"
	if p.spec.ServiceAccountName == "" && p.spec.DeprecatedServiceAccount != "" {
		path = p.specPath + ".serviceAccount"
	}
	em.add(em.rule(), path, "pod runs as the namespace's default service account")
}

// sensitiveHostPaths are host paths whose mount gives control of the node.
// Prefix entries also match everything below them.
var (
	sensitiveExact  = []string{"/", "/var", "/var/lib", "/home", "/usr"}
	sensitivePrefix = []string{"/etc", "/proc", "/sys", "/boot", "/dev", "/root", "/var/run", "/run",
		"/var/lib/kubelet", "/var/lib/docker", "/var/lib/containerd", "/var/lib/crio", "/var/lib/etcd",
		"/lib/modules", "/usr/lib/modules", "/bin", "/sbin", "/usr/bin", "/usr/sbin"}
	runtimeSocket = regexp.MustCompile(`(docker|containerd|crio|cri-dockerd|podman)[^/]*\.sock$`)
)

func sensitiveHostPath(p *pod, em *emitter) {
	for i, v := range p.spec.Volumes {
		if v.HostPath == nil {
			continue
		}
		hp := path.Clean("/" + v.HostPath.Path)
		why := ""
		switch {
		case runtimeSocket.MatchString(hp):
			why = "container runtime socket: full control of every container on the node"
		case slices.Contains(sensitiveExact, hp):
			why = "a node system directory"
		default:
			for _, s := range sensitivePrefix {
				if hp == s || strings.HasPrefix(hp, s+"/") {
					why = "under " + s
					break
				}
			}
		}
		if why != "" {
			em.add(em.rule(), fmt.Sprintf("%s.volumes[%d].hostPath.path", p.specPath, i),
				fmt.Sprintf("volume %q mounts host path %s (%s)", v.Name, hp, why))
		}
	}
}

var (
	// secretWords mark an env var name as holding a credential, unless a
	// notSecretSuffix says it holds something about one (where it is,
	// what it is called, how long it lives). Matched on the lower-cased
	// name: strings.Contains is ten times cheaper than a regexp here.
	secretWords = []string{"passwd", "password", "passphrase", "secret", "token", "apikey", "api_key",
		"privatekey", "private_key", "accesskey", "access_key", "credential", "authkey", "auth_key",
		"connstr", "conn_str", "connectionstr", "connection_str"}
	notSecretSuffixes = []string{"_file", "_path", "_dir", "_url", "_uri", "_endpoint", "_host", "_port", "_name",
		"_ref", "_ttl", "_expiry", "_expiration", "_length", "_len", "_size", "_type", "_id", "_enabled", "_header",
		"_env", "_key_id", "_mode", "_timeout", "_version", "_location", "_secret_name"}
	// secretPatterns are known credential formats. Each has literal hints,
	// one of which must occur before the regexp is worth running.
	secretPatterns = []struct {
		what  string
		hints []string
		re    *regexp.Regexp
	}{
		{"an AWS access key ID", []string{"AKIA", "ASIA"}, regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
		{"a GitHub token", []string{"gh"}, regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,}\b`)},
		{"a GitLab token", []string{"glpat-"}, regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}`)},
		{"a Slack token", []string{"xox"}, regexp.MustCompile(`\bxox[baprs]-[A-Za-z0-9-]{10,}`)},
		{"a private key", []string{"PRIVATE KEY"}, regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
		{"a Stripe live key", []string{"k_live_"}, regexp.MustCompile(`\b[sr]k_live_[0-9a-zA-Z]{20,}`)},
		{"a Google API key", []string{"AIza"}, regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`)},
		{"a JSON Web Token", []string{"eyJ"}, regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)},
		{"a URL with a password", []string{"://"}, regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@`)},
	}
	placeholder = regexp.MustCompile(`^(\$\(.*\)|\$\{.*\}|\{\{.*\}\}|<.*>|true|false|yes|no|none|null|[0-9]{1,6})$`)
)

// secretKind says why an env var looks like a literal credential, or ""
// when it does not.
func secretKind(name, value string) string {
	for _, p := range secretPatterns {
		for _, h := range p.hints {
			if strings.Contains(value, h) {
				if p.re.MatchString(value) {
					return p.what
				}
				break
			}
		}
	}
	if len(value) < 4 || !secretName(name) {
		return ""
	}
	if placeholder.MatchString(strings.ToLower(strings.TrimSpace(value))) {
		return ""
	}
	return "a credential by its name"
}

// secretName reports whether an env var's name says it holds a credential.
func secretName(name string) bool {
	lower := strings.ToLower(name)
	for _, s := range notSecretSuffixes {
		if strings.HasSuffix(lower, s) {
			return false
		}
	}
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

func secretInEnv(p *pod, em *emitter) {
	for _, ref := range p.containers() {
		for i, e := range ref.c.Env {
			if e.ValueFrom != nil || e.Value == "" {
				continue
			}
			if what := secretKind(e.Name, e.Value); what != "" {
				// Never echo the value: reports travel further than the manifest.
				em.add(em.rule(), fmt.Sprintf("%s.env[%d].value", ref.path, i),
					fmt.Sprintf("%s env %s holds a literal value that looks like %s (value redacted, %d characters)", ref.name(), e.Name, what, len(e.Value)))
			}
		}
	}
}

var sensitivePorts = map[int32]string{
	22: "SSH", 23: "telnet", 2375: "Docker API (plain)", 2376: "Docker API (TLS)", 2379: "etcd client", 2380: "etcd peer",
	6443: "Kubernetes API server", 10250: "kubelet API", 10255: "kubelet read-only API", 10256: "kube-proxy health",
	10257: "kube-controller-manager", 10259: "kube-scheduler", 4194: "cAdvisor", 9099: "Calico Felix", 6783: "Weave",
}

func sensitiveHostPort(p *pod, em *emitter) {
	for _, ref := range regular(p) {
		for i, port := range ref.c.Ports {
			if what, ok := sensitivePorts[port.HostPort]; ok {
				em.add(em.rule(), fmt.Sprintf("%s.ports[%d].hostPort", ref.path, i), fmt.Sprintf("%s binds host port %d (%s)", ref.name(), port.HostPort, what))
			}
		}
	}
}
