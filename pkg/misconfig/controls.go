package misconfig

import "github.com/mamori-dev/mamori/pkg/finding"

// Framework controls the checks map to. Titles follow each framework's own
// wording: CIS Kubernetes Benchmark v1.9+ section 5, NSA/CISA Kubernetes
// Hardening Guide v1.2, NIST SP 800-190 section 4, MITRE ATT&CK for
// Containers.

func cis(id, title string) finding.Control {
	return finding.Control{Framework: finding.CIS, ID: id, Title: title}
}

func nsa(id, title string) finding.Control {
	return finding.Control{Framework: finding.NSACISA, ID: id, Title: title}
}

func nist(id, title string) finding.Control {
	return finding.Control{Framework: finding.NIST800190, ID: id, Title: title}
}

func mitre(id, title string) finding.Control {
	return finding.Control{Framework: finding.MITREATTACK, ID: id, Title: title}
}

func pssControl(level, title string) finding.Control {
	return finding.Control{Framework: finding.PSS, ID: level, Title: title}
}

var (
	nsaNonRoot      = nsa("pod-security/non-root", "Kubernetes Pod security: Non-root containers and rootless container engines")
	nsaImmutable    = nsa("pod-security/immutable-fs", "Kubernetes Pod security: Immutable container file systems")
	nsaSecureImages = nsa("pod-security/secure-images", "Kubernetes Pod security: Building secure container images")
	nsaEnforcement  = nsa("pod-security/enforcement", "Kubernetes Pod security: Pod security enforcement")
	nsaSAToken      = nsa("pod-security/sa-tokens", "Kubernetes Pod security: Protecting Pod service account tokens")
	nsaHardening    = nsa("pod-security/hardening", "Kubernetes Pod security: Hardening container environments")
	nsaNamespaces   = nsa("network/namespaces", "Network separation and hardening: Namespaces")
	nsaResources    = nsa("network/resource-policies", "Network separation and hardening: Resource policies")
	nsaSecrets      = nsa("network/secrets", "Network separation and hardening: Secrets")
	nsaAppSecurity  = nsa("upgrading/app-security", "Upgrading and application security practices")

	nistRuntimeConfig = nist("4.4.3", "Insecure container runtime configurations")
	nistHostFS        = nist("4.5.5", "Host OS file system tampering")
	nistSharedKernel  = nist("4.5.2", "Shared kernel")
	nistSecrets       = nist("4.1.4", "Embedded clear text secrets")
	nistUntrusted     = nist("4.1.5", "Use of untrusted images")
	nistImageConfig   = nist("4.1.2", "Image configuration defects")
	nistNetwork       = nist("4.4.2", "Unbounded network access from containers")
	nistMixing        = nist("4.3.4", "Mixing of workload sensitivity levels")
	nistAdmin         = nist("4.3.1", "Unbounded administrative access")
	nistRogue         = nist("4.4.5", "Rogue containers")

	mitreEscape       = mitre("T1611", "Escape to Host")
	mitreDeploy       = mitre("T1610", "Deploy Container")
	mitreAdminCmd     = mitre("T1609", "Container Administration Command")
	mitreCredFiles    = mitre("T1552.001", "Unsecured Credentials: Credentials In Files")
	mitreContainerAPI = mitre("T1552.007", "Unsecured Credentials: Container API")
	mitreStealToken   = mitre("T1528", "Steal Application Access Token")
	mitreDefaultAcct  = mitre("T1078.001", "Valid Accounts: Default Accounts")
	mitreDoS          = mitre("T1499", "Endpoint Denial of Service")
	mitreHijack       = mitre("T1496", "Resource Hijacking")
	mitreMalImage     = mitre("T1204.003", "User Execution: Malicious Image")
	mitreImplant      = mitre("T1525", "Implant Internal Image")
	mitreAiTM         = mitre("T1557", "Adversary-in-the-Middle")
	mitreSniff        = mitre("T1040", "Network Sniffing")
	mitrePrivEsc      = mitre("T1068", "Exploitation for Privilege Escalation")
	mitreDiscovery    = mitre("T1613", "Container and Resource Discovery")
)
