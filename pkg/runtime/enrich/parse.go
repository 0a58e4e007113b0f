package enrich

import "strings"

// Container runtimes as ParseCgroupPath and Pods name them.
const (
	Containerd = "containerd"
	CRIO       = "cri-o"
	Docker     = "docker"
)

// QoS classes of a pod cgroup, from its place under kubepods.
const (
	Guaranteed = "guaranteed"
	Burstable  = "burstable"
	BestEffort = "besteffort"
)

// Ref is what a cgroup path alone says about a container.
type Ref struct {
	// ContainerID is the runtime's 64-hex-digit container ID.
	ContainerID string
	// Runtime is Containerd, CRIO or Docker when the path names it; ""
	// for the cgroupfs driver's bare IDs, which containerd and Docker share.
	Runtime string
	// PodUID is the Kubernetes pod UID (with dashes), "" outside kubepods.
	PodUID string
	// QoS is Guaranteed, Burstable or BestEffort for kubelet pods.
	QoS string
}

// ParseCgroupPath says which container a cgroup v2 path (relative to the
// hierarchy root, e.g. from /proc/PID/cgroup) belongs to. It knows the
// kubelet layouts of both cgroup drivers for containerd, CRI-O and Docker
// (cri-dockerd), under any parent prefix (kind nodes, nested runtimes),
// and plain Docker containers. Cgroups below a container's own (crun's
// "container" subgroup, a container's nested cgroups) belong to it.
// CRI-O's conmon scopes and pod-level cgroups are not containers.
func ParseCgroupPath(p string) (Ref, bool) {
	// Walk components without allocating a slice of them.
	var prev, prev2 string
	var docker Ref
	var dockerOK bool
	rest := p
	for rest != "" {
		var c string
		c, rest = nextComponent(rest)
		if c == "" {
			continue
		}
		// The systemd-driver cgroupsPath form "<pod>.slice:<runtime>:<id>"
		// shows up in the wild as one component.
		if slice, rt, id, ok := splitColonForm(c); ok {
			if uid, qos, ok := podComponent(slice, prev, prev2); ok {
				if id, runtime, ok := containerComponent(rt + "-" + id); ok {
					return Ref{ContainerID: id, Runtime: runtime, PodUID: uid, QoS: qos}, true
				}
			}
			return Ref{}, false
		}
		if uid, qos, ok := podComponent(c, prev, prev2); ok {
			// The next non-empty component is the container's.
			var cc string
			for rest != "" && cc == "" {
				cc, rest = nextComponent(rest)
			}
			id, runtime, ok := containerComponent(cc)
			if !ok {
				return Ref{}, false
			}
			return Ref{ContainerID: id, Runtime: runtime, PodUID: uid, QoS: qos}, true
		}
		// Plain Docker: /docker/<id> (cgroupfs) or docker-<id>.scope
		// (systemd); the innermost one wins for Docker-in-Docker.
		if prev == "docker" && isContainerID(c) {
			docker, dockerOK = Ref{ContainerID: c, Runtime: Docker}, true
		} else if id, ok := trimAround(c, "docker-", ".scope"); ok && isContainerID(id) {
			docker, dockerOK = Ref{ContainerID: id, Runtime: Docker}, true
		}
		prev2, prev = prev, c
	}
	return docker, dockerOK
}

// nextComponent splits the first path component off s.
func nextComponent(s string) (string, string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// podComponent recognizes a pod's cgroup: "kubepods[-qos]-pod<uid>.slice"
// (systemd driver, any "<root>-" prefix such as kind's "kubelet-") or
// "pod<uid>" under "kubepods" or "kubepods/<qos>" (cgroupfs driver).
func podComponent(c, parent, grandparent string) (uid, qos string, ok bool) {
	if name, found := strings.CutSuffix(c, ".slice"); found {
		i := strings.LastIndex(name, "kubepods")
		if i < 0 || (i > 0 && name[i-1] != '-') {
			return "", "", false
		}
		name = name[i+len("kubepods"):]
		qos = Guaranteed
		switch {
		case strings.HasPrefix(name, "-besteffort-"):
			qos, name = BestEffort, name[len("-besteffort"):]
		case strings.HasPrefix(name, "-burstable-"):
			qos, name = Burstable, name[len("-burstable"):]
		}
		raw, found := strings.CutPrefix(name, "-pod")
		if !found || !isPodUID(raw) {
			return "", "", false
		}
		// systemd escapes the UID's dashes as underscores.
		return strings.ReplaceAll(raw, "_", "-"), qos, true
	}
	raw, found := strings.CutPrefix(c, "pod")
	if !found || !isPodUID(raw) || strings.IndexByte(raw, '_') >= 0 {
		return "", "", false
	}
	switch {
	case parent == "kubepods":
		return raw, Guaranteed, true
	case grandparent == "kubepods" && (parent == BestEffort || parent == Burstable):
		return raw, parent, true
	}
	return "", "", false
}

// containerComponent recognizes a container's cgroup under a pod's.
func containerComponent(c string) (id, runtime string, ok bool) {
	if strings.HasPrefix(c, "crio-conmon-") {
		return "", "", false
	}
	for _, f := range [...]struct{ prefix, runtime string }{
		{"cri-containerd-", Containerd},
		{"crio-", CRIO},
		{"docker-", Docker},
	} {
		if rest, found := strings.CutPrefix(c, f.prefix); found {
			// ".scope" under the systemd driver; CRI-O's cgroupfs
			// layout keeps the prefix without it.
			rest = strings.TrimSuffix(rest, ".scope")
			if isContainerID(rest) {
				return rest, f.runtime, true
			}
			return "", "", false
		}
	}
	if isContainerID(c) {
		return c, "", true
	}
	return "", "", false
}

// splitColonForm splits "<slice>:<runtime>:<id>".
func splitColonForm(c string) (slice, runtime, id string, ok bool) {
	slice, rest, ok := strings.Cut(c, ":")
	if !ok {
		return "", "", "", false
	}
	runtime, id, ok = strings.Cut(rest, ":")
	return slice, runtime, id, ok
}

// trimAround returns s without prefix and suffix if it has both.
func trimAround(s, prefix, suffix string) (string, bool) {
	if len(s) < len(prefix)+len(suffix) || !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, suffix) {
		return "", false
	}
	return s[len(prefix) : len(s)-len(suffix)], true
}

// isContainerID reports whether s is 64 lower-case hex digits, the ID form
// of containerd, CRI-O and Docker.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// isPodUID accepts a UUID with dashes (API pods) or underscores (systemd
// escaping), or the 32 hex digits of a static pod's hash.
func isPodUID(s string) bool {
	switch len(s) {
	case 32:
		for i := 0; i < len(s); i++ {
			if !isHex(s[i]) {
				return false
			}
		}
		return true
	case 36:
		for i := 0; i < len(s); i++ {
			switch i {
			case 8, 13, 18, 23:
				if s[i] != '-' && s[i] != '_' {
					return false
				}
			default:
				if !isHex(s[i]) {
					return false
				}
			}
		}
		return s[8] == s[13] && s[13] == s[18] && s[18] == s[23]
	}
	return false
}

func isHex(b byte) bool { return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' }
