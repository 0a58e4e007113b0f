package misconfig

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// pssCheck is one official PSS check at the version being evaluated.
type pssCheck struct {
	id    policy.CheckID
	level api.Level
	fn    policy.CheckPodFn
	rule  *finding.Rule
	meta  pssMeta
}

// pssEvaluator runs the official PSS checks one by one: the verdicts are the
// official evaluator's, and running them singly lets findings say which
// check failed for which container or volume.
type pssEvaluator struct {
	level   api.Level
	version api.Version
	checks  []pssCheck
}

// newPSSEvaluator selects the checks the official evaluator applies for the
// level and version: for each check its newest revision not newer than the
// version; at restricted, the baseline checks that a restricted check
// overrides are dropped.
func newPSSEvaluator(level api.Level, version api.Version) (*pssEvaluator, error) {
	if level != api.LevelBaseline && level != api.LevelRestricted {
		return nil, fmt.Errorf("PSS level %q: want baseline or restricted", level)
	}
	all := policy.DefaultChecks()
	var maxVersion api.Version
	for _, c := range all {
		if v := c.Versions[len(c.Versions)-1].MinimumVersion; maxVersion.Older(v) {
			maxVersion = v
		}
	}
	if version.Latest() || maxVersion.Older(version) {
		version = maxVersion
	}
	e := &pssEvaluator{level: level, version: version}
	overridden := map[policy.CheckID]bool{}
	type sel struct {
		c  policy.Check
		vc policy.VersionedCheck
	}
	var picked []sel
	for _, c := range all {
		if level == api.LevelBaseline && c.Level != api.LevelBaseline {
			continue
		}
		var vc *policy.VersionedCheck
		for i := range c.Versions {
			if !version.Older(c.Versions[i].MinimumVersion) {
				vc = &c.Versions[i]
			}
		}
		if vc == nil {
			continue // the check is newer than the version asked for
		}
		for _, o := range vc.OverrideCheckIDs {
			overridden[o] = true
		}
		picked = append(picked, sel{c, *vc})
	}
	for _, p := range picked {
		if p.c.Level == api.LevelBaseline && level == api.LevelRestricted && overridden[p.c.ID] {
			continue
		}
		m, ok := pssCatalogue[p.c.ID]
		if !ok {
			// A check newer than this catalogue: still run it, with generic metadata.
			m = pssMeta{slug: strings.ToLower(string(p.c.ID)), title: string(p.c.ID), severity: finding.Medium}
		}
		e.checks = append(e.checks, pssCheck{id: p.c.ID, level: p.c.Level, fn: p.vc.CheckPod, rule: m.rule(p.c.ID, p.c.Level), meta: m})
	}
	slices.SortFunc(e.checks, func(a, b pssCheck) int { return strings.Compare(string(a.id), string(b.id)) })
	return e, nil
}

// evaluate runs every check on the pod and reports failures where they are.
func (e *pssEvaluator) evaluate(p *pod, em *emitter) {
	for i := range e.checks {
		c := &e.checks[i]
		if r := c.fn(p.meta, p.spec); !r.Allowed {
			e.attribute(p, c, r, em)
		}
	}
}

// attribute finds what makes a failing check fail by running it again on
// parts of the pod: the pod without containers, each volume alone, each
// container alone. A container is at fault when adding it changes the
// verdict or its detail.
func (e *pssEvaluator) attribute(p *pod, c *pssCheck, full policy.CheckResult, em *emitter) {
	bare := *p.spec
	bare.InitContainers, bare.Containers, bare.EphemeralContainers = nil, nil, nil
	// One scratch spec for every variant: the checks only read it.
	scratch := new(corev1.PodSpec)
	run := func(edit func(*corev1.PodSpec)) policy.CheckResult {
		*scratch = bare
		if edit != nil {
			edit(scratch)
		}
		return c.fn(p.meta, scratch)
	}
	// Checks of container fields only (no podField) cannot fail on the pod
	// alone; skip that run.
	podOnly := policy.CheckResult{Allowed: true}
	if c.meta.podField != nil || c.meta.containerField == nil {
		podOnly = run(nil)
	}
	refs := p.containers()
	if podOnly.Allowed && len(refs) == 1 {
		// One container and a pod that passes alone: the container is at
		// fault, and the full result is its own.
		em.add(c.rule, c.meta.containerPath(refs[0]), pssMessage(full))
		return
	}
	emitted := false
	if !podOnly.Allowed {
		base := run(func(s *corev1.PodSpec) { s.Volumes = nil })
		perVolume := false
		if base.Allowed {
			for i := range bare.Volumes {
				r := run(func(s *corev1.PodSpec) { s.Volumes = bare.Volumes[i : i+1] })
				if r.Allowed {
					continue
				}
				path := fmt.Sprintf("%s.volumes[%d]", p.specPath, i)
				if bare.Volumes[i].HostPath != nil {
					path += ".hostPath.path"
				}
				em.add(c.rule, path, pssMessage(r))
				perVolume = true
			}
		}
		if !perVolume {
			em.add(c.rule, e.podPath(p, c), pssMessage(podOnly))
		}
		emitted = true
	}
	for _, ref := range refs {
		r := run(func(s *corev1.PodSpec) {
			switch ref.field {
			case "initContainers":
				s.InitContainers = p.spec.InitContainers[ref.index : ref.index+1]
			case "containers":
				s.Containers = p.spec.Containers[ref.index : ref.index+1]
			default:
				s.EphemeralContainers = p.spec.EphemeralContainers[ref.index : ref.index+1]
			}
		})
		if r.Allowed || (!podOnly.Allowed && r.ForbiddenDetail == podOnly.ForbiddenDetail) {
			continue
		}
		em.add(c.rule, c.meta.containerPath(ref), pssMessage(r))
		emitted = true
	}
	if !emitted {
		em.add(c.rule, e.podPath(p, c), pssMessage(full))
	}
}

func (e *pssEvaluator) podPath(p *pod, c *pssCheck) string {
	if c.meta.podField == nil {
		return p.specPath
	}
	f := c.meta.podField(p.spec)
	if strings.HasPrefix(f, "metadata.") {
		return p.metaPath + strings.TrimPrefix(f, "metadata")
	}
	return p.specPath + "." + f
}

func pssMessage(r policy.CheckResult) string {
	if r.ForbiddenDetail == "" {
		return r.ForbiddenReason
	}
	return r.ForbiddenReason + ": " + r.ForbiddenDetail
}

// pssMeta is mamori's metadata for one official PSS check.
type pssMeta struct {
	slug, title, control, description, remediation string
	severity                                       finding.Severity
	controls                                       []finding.Control
	// containerField names the field at fault inside a container;
	// podField the field at fault in the pod spec.
	containerField func(*corev1.Container) string
	podField       func(*corev1.PodSpec) string
}

// containerPath is the path of the field at fault in a container, or of
// the container when the check names no field.
func (m pssMeta) containerPath(ref containerRef) string {
	if m.containerField == nil {
		return ref.path
	}
	return ref.path + "." + m.containerField(ref.c)
}

func (m pssMeta) rule(id policy.CheckID, level api.Level) *finding.Rule {
	refs := []string{"https://kubernetes.io/docs/concepts/security/pod-security-standards/#" + string(level)}
	controls := append([]finding.Control{pssControl(string(level), m.control)}, m.controls...)
	desc := m.description
	if desc == "" {
		desc = m.title
	}
	desc += fmt.Sprintf(" Judged by the official Pod Security Standards evaluator (k8s.io/pod-security-admission check %q, level %s).", id, level)
	return &finding.Rule{
		ID:          "pss-" + m.slug,
		Title:       m.title,
		Severity:    m.severity,
		Description: desc,
		Remediation: m.remediation,
		References:  refs,
		Controls:    controls,
	}
}

func field(f string) func(*corev1.Container) string {
	return func(*corev1.Container) string { return f }
}

func podField(f string) func(*corev1.PodSpec) string {
	return func(*corev1.PodSpec) string { return f }
}

// pssCatalogue maps each official check to mamori's metadata.
var pssCatalogue = map[policy.CheckID]pssMeta{
	"privileged": {
		slug: "privileged", title: "Privileged container", control: "Privileged Containers", severity: finding.Critical,
		description:    "A privileged container has every capability and all host devices: it is root on the node.",
		remediation:    "Remove securityContext.privileged or set it to false.",
		controls:       []finding.Control{cis("5.2.2", "Minimize the admission of privileged containers"), nsaEnforcement, nistRuntimeConfig, mitreEscape},
		containerField: field("securityContext.privileged"),
	},
	"hostNamespaces": {
		slug: "host-namespaces", title: "Host namespaces shared", control: "Host Namespaces", severity: finding.High,
		description: "hostNetwork, hostPID or hostIPC let the pod see and reach the node's network, processes or IPC.",
		remediation: "Remove hostNetwork, hostPID and hostIPC, or set them to false.",
		controls: []finding.Control{
			cis("5.2.3", "Minimize the admission of containers wishing to share the host process ID namespace"),
			cis("5.2.4", "Minimize the admission of containers wishing to share the host IPC namespace"),
			cis("5.2.5", "Minimize the admission of containers wishing to share the host network namespace"),
			nsaEnforcement, nistSharedKernel, mitreEscape, mitreSniff},
		podField: func(s *corev1.PodSpec) string {
			switch {
			case s.HostPID:
				return "hostPID"
			case s.HostIPC:
				return "hostIPC"
			}
			return "hostNetwork"
		},
	},
	"hostPathVolumes": {
		slug: "host-path-volumes", title: "HostPath volume", control: "HostPath Volumes", severity: finding.High,
		description: "A hostPath volume exposes the node's filesystem to the pod.",
		remediation: "Replace hostPath volumes with emptyDir, configMap, secret, projected or persistent volumes.",
		controls:    []finding.Control{cis("5.2.12", "Minimize the admission of HostPath volumes"), nsaEnforcement, nistHostFS, mitreEscape},
		podField:    podField("volumes"),
	},
	"hostPorts": {
		slug: "host-ports", title: "Host port", control: "Host Ports", severity: finding.Medium,
		description: "A hostPort binds the node's network interface, bypassing Services and NetworkPolicy.",
		remediation: "Remove ports[].hostPort; expose the container through a Service.",
		controls:    []finding.Control{cis("5.2.13", "Minimize the admission of containers which use HostPorts"), nsaEnforcement, nistNetwork},
		containerField: func(c *corev1.Container) string {
			for i, p := range c.Ports {
				if p.HostPort != 0 {
					return fmt.Sprintf("ports[%d].hostPort", i)
				}
			}
			return "ports"
		},
	},
	"capabilities_baseline": {
		slug: "capabilities-baseline", title: "Non-default capabilities added", control: "Capabilities", severity: finding.High,
		description:    "Capabilities beyond the container runtime's default set widen what a compromised process can do to the node.",
		remediation:    "Remove capabilities from securityContext.capabilities.add outside the default set.",
		controls:       []finding.Control{cis("5.2.9", "Minimize the admission of containers with added capabilities"), nsaEnforcement, nistRuntimeConfig, mitrePrivEsc},
		containerField: field("securityContext.capabilities.add"),
	},
	"capabilities_restricted": {
		slug: "capabilities-restricted", title: "Capabilities not dropped", control: "Capabilities", severity: finding.Medium,
		description: "Restricted pods drop ALL capabilities and may add back only NET_BIND_SERVICE.",
		remediation: "Set securityContext.capabilities.drop: [\"ALL\"] and add only NET_BIND_SERVICE if needed.",
		controls: []finding.Control{cis("5.2.8", "Minimize the admission of containers with the NET_RAW capability"),
			cis("5.2.10", "Minimize the admission of containers with capabilities assigned"), nsaEnforcement, nistRuntimeConfig, mitreAiTM},
		containerField: func(c *corev1.Container) string {
			if sc := c.SecurityContext; sc != nil && sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL") {
				return "securityContext.capabilities.add"
			}
			return "securityContext.capabilities.drop"
		},
	},
	"procMount": {
		slug: "proc-mount", title: "Unmasked /proc mount", control: "/proc Mount Type", severity: finding.High,
		description:    "An Unmasked procMount exposes kernel interfaces the runtime normally hides.",
		remediation:    "Remove securityContext.procMount or set it to Default.",
		controls:       []finding.Control{nsaEnforcement, nistRuntimeConfig, mitreEscape},
		containerField: field("securityContext.procMount"),
	},
	"procMount_restricted": {
		slug: "proc-mount-restricted", title: "Unmasked /proc mount", control: "/proc Mount Type", severity: finding.High,
		description:    "An Unmasked procMount exposes kernel interfaces the runtime normally hides.",
		remediation:    "Remove securityContext.procMount or set it to Default.",
		controls:       []finding.Control{nsaEnforcement, nistRuntimeConfig, mitreEscape},
		containerField: field("securityContext.procMount"),
	},
	"seLinuxOptions": {
		slug: "selinux-options", title: "Custom SELinux options", control: "SELinux", severity: finding.Medium,
		description:    "Setting a custom SELinux user or role, or a type outside the container types, weakens confinement.",
		remediation:    "Remove seLinuxOptions.user and .role; use only container_t, container_init_t, container_kvm_t or container_engine_t types.",
		controls:       []finding.Control{nsaHardening, nistRuntimeConfig},
		containerField: field("securityContext.seLinuxOptions"),
		podField:       podField("securityContext.seLinuxOptions"),
	},
	"seccompProfile_baseline": {
		slug: "seccomp-baseline", title: "Seccomp disabled", control: "Seccomp", severity: finding.Medium,
		description:    "An Unconfined seccomp profile lets the container make every system call.",
		remediation:    "Set securityContext.seccompProfile.type to RuntimeDefault or Localhost.",
		controls:       []finding.Control{cis("5.7.2", "Ensure that the seccomp profile is set to docker/default in your Pod definitions"), nsaHardening, nistSharedKernel, mitreEscape},
		containerField: field("securityContext.seccompProfile.type"),
		podField:       podField("securityContext.seccompProfile.type"),
	},
	"seccompProfile_restricted": {
		slug: "seccomp-restricted", title: "Seccomp profile not set", control: "Seccomp", severity: finding.Medium,
		description:    "Restricted pods must set a seccomp profile (RuntimeDefault or Localhost) for the pod or every container.",
		remediation:    "Set spec.securityContext.seccompProfile.type: RuntimeDefault.",
		controls:       []finding.Control{cis("5.7.2", "Ensure that the seccomp profile is set to docker/default in your Pod definitions"), nsaHardening, nistSharedKernel, mitreEscape},
		containerField: field("securityContext.seccompProfile.type"),
		podField:       podField("securityContext.seccompProfile.type"),
	},
	"sysctls": {
		slug: "sysctls", title: "Unsafe sysctls", control: "Sysctls", severity: finding.Medium,
		description: "Sysctls outside the safe set can change node-wide kernel behaviour.",
		remediation: "Remove securityContext.sysctls outside the safe set.",
		controls:    []finding.Control{nsaHardening, nistSharedKernel},
		podField:    podField("securityContext.sysctls"),
	},
	"windowsHostProcess": {
		slug: "windows-host-process", title: "Windows HostProcess container", control: "HostProcess", severity: finding.Critical,
		description:    "A Windows HostProcess container runs directly on the node with privileged access.",
		remediation:    "Remove securityContext.windowsOptions.hostProcess.",
		controls:       []finding.Control{cis("5.2.11", "Minimize the admission of Windows HostProcess containers"), nsaEnforcement, nistRuntimeConfig, mitreEscape},
		containerField: field("securityContext.windowsOptions.hostProcess"),
		podField:       podField("securityContext.windowsOptions.hostProcess"),
	},
	"appArmorProfile": {
		slug: "apparmor", title: "AppArmor disabled", control: "AppArmor", severity: finding.Medium,
		description:    "An unconfined AppArmor profile removes the runtime's default confinement.",
		remediation:    "Set securityContext.appArmorProfile.type to RuntimeDefault or Localhost, or remove the unconfined annotation.",
		controls:       []finding.Control{nsaHardening, nistRuntimeConfig},
		containerField: field("securityContext.appArmorProfile.type"),
		podField: func(s *corev1.PodSpec) string {
			if s.SecurityContext != nil && s.SecurityContext.AppArmorProfile != nil {
				return "securityContext.appArmorProfile.type"
			}
			return "metadata.annotations"
		},
	},
	"hostProbesAndHostLifecycle": {
		slug: "host-probes", title: "Probe or lifecycle hook targets a host", control: "Host Probes / Lifecycle Hooks", severity: finding.Medium,
		description:    "A probe or lifecycle handler with a host field can make the kubelet reach arbitrary hosts (SSRF from the node).",
		remediation:    "Remove the host field from httpGet and tcpSocket handlers.",
		controls:       []finding.Control{nsaEnforcement, nistNetwork},
		containerField: hostProbeField,
	},
	"restrictedVolumes": {
		slug: "restricted-volumes", title: "Volume type not allowed", control: "Volume Types", severity: finding.Medium,
		description: "Restricted pods may use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes.",
		remediation: "Replace the volume with an allowed type.",
		controls:    []finding.Control{cis("5.2.12", "Minimize the admission of HostPath volumes"), nsaEnforcement, nistHostFS},
		podField:    podField("volumes"),
	},
	"allowPrivilegeEscalation": {
		slug: "privilege-escalation", title: "Privilege escalation allowed", control: "Privilege Escalation", severity: finding.Medium,
		description:    "Without allowPrivilegeEscalation: false a process can gain more privileges than its parent (setuid binaries).",
		remediation:    "Set securityContext.allowPrivilegeEscalation: false.",
		controls:       []finding.Control{cis("5.2.6", "Minimize the admission of containers with allowPrivilegeEscalation"), nsaNonRoot, nistRuntimeConfig, mitrePrivEsc},
		containerField: field("securityContext.allowPrivilegeEscalation"),
	},
	"runAsNonRoot": {
		slug: "run-as-non-root", title: "May run as root", control: "Running as Non-root", severity: finding.Medium,
		description:    "Without runAsNonRoot: true the container runs as whatever user the image sets, often root.",
		remediation:    "Set securityContext.runAsNonRoot: true on the pod or every container (and a non-zero runAsUser).",
		controls:       []finding.Control{cis("5.2.7", "Minimize the admission of root containers"), cis("5.7.3", "Apply SecurityContext to your Pods and Containers"), nsaNonRoot, nistRuntimeConfig, mitreEscape},
		containerField: field("securityContext.runAsNonRoot"),
		podField:       podField("securityContext.runAsNonRoot"),
	},
	"runAsUser": {
		slug: "run-as-user-root", title: "Runs as UID 0", control: "Running as Non-root user", severity: finding.High,
		description:    "runAsUser: 0 runs the container as root.",
		remediation:    "Set runAsUser to a non-zero UID.",
		controls:       []finding.Control{cis("5.2.7", "Minimize the admission of root containers"), nsaNonRoot, nistRuntimeConfig, mitreEscape},
		containerField: field("securityContext.runAsUser"),
		podField:       podField("securityContext.runAsUser"),
	},
}

func hostProbeField(c *corev1.Container) string {
	probes := []struct {
		name string
		p    *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}}
	for _, pr := range probes {
		if pr.p == nil {
			continue
		}
		if pr.p.HTTPGet != nil && pr.p.HTTPGet.Host != "" {
			return pr.name + ".httpGet.host"
		}
		if pr.p.TCPSocket != nil && pr.p.TCPSocket.Host != "" {
			return pr.name + ".tcpSocket.host"
		}
	}
	if l := c.Lifecycle; l != nil {
		for _, h := range []struct {
			name string
			h    *corev1.LifecycleHandler
		}{{"postStart", l.PostStart}, {"preStop", l.PreStop}} {
			if h.h == nil {
				continue
			}
			if h.h.HTTPGet != nil && h.h.HTTPGet.Host != "" {
				return "lifecycle." + h.name + ".httpGet.host"
			}
			if h.h.TCPSocket != nil && h.h.TCPSocket.Host != "" {
				return "lifecycle." + h.name + ".tcpSocket.host"
			}
		}
	}
	return "livenessProbe"
}
