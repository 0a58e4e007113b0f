package secret

import (
	"github.com/mamori-dev/mamori/pkg/finding"
)

// Builtin returns mamori's built-in rules, fresh on each call (New
// compiles into them).
func Builtin() []*Rule {
	return []*Rule{
		{
			ID: "generic-secret", Title: "High-entropy value assigned to a secret-named key", Severity: finding.High,
			Description: "A value that looks like a credential (long, mixed characters, high entropy) is assigned to a key named like a password, secret, token or API key.",
			Remediation: "Move the value to a secret manager or an environment variable injected at run time, rotate it, and remove it from history.",
			Keywords:    []string{"passw", "pwd", "secret", "token", "apikey", "api_key", "api-key", "access_key", "accesskey", "private_key", "privatekey", "auth_key", "authkey", "credential", "passphrase"},
			Pattern:     `(?i)(?P<key>[a-z0-9_.\-]*(?:passw(?:or)?d|pwd|secret|token|api[_.\-]?key|access[_.\-]?key|private[_.\-]?key|auth[_.\-]?key|credentials?|passphrase)[a-z0-9_.\-]*)["']?[ \t]*(?::=|=>|=|:)[ \t]*["'\x60]?(?P<secret>[^\s"'\x60;,]{8,200})`,
			Generic:     true,
		},
		{
			ID: "aws-access-key-id", Title: "AWS access key ID", Severity: finding.High,
			Description: "An AWS access key ID. With its secret access key it signs requests as the IAM user or role it belongs to.",
			Remediation: "Deactivate and delete the key in IAM, replace it with a role (IRSA, instance profile) or a key kept in a secret manager, and review CloudTrail for its use.",
			References:  []string{"https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"},
			Keywords:    []string{"akia", "asia", "abia", "acca", "a3t"},
			Pattern:     `\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`,
			MinEntropy:  3.0,
		},
		{
			ID: "aws-secret-access-key", Title: "AWS secret access key", Severity: finding.Critical,
			Description: "An AWS secret access key, assigned to a key named for it. It signs requests for its access key ID.",
			Remediation: "Deactivate and delete the key pair in IAM, replace it with a role or a key kept in a secret manager, and review CloudTrail for its use.",
			References:  []string{"https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"},
			Keywords:    []string{"aws_secret", "aws-secret", "awssecret", "secret_access_key", "secretaccesskey", "secret-access-key"},
			Pattern:     `(?i)(?:aws)?[_.\-]?secret[_.\-]?(?:access)?[_.\-]?key(?:[_.\-]?id)?["']?[ \t]*(?::=|=>|=|:)[ \t]*["']?(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`,
			MinEntropy:  4.0,
		},
		{
			ID: "github-pat", Title: "GitHub personal access token (classic)", Severity: finding.Critical,
			Description: "A GitHub classic personal access token: it acts as its user on every repository and organisation the scopes allow.",
			Remediation: "Revoke the token in GitHub settings, replace it with a fine-grained token or a GitHub App, and review the audit log.",
			References:  []string{"https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/about-authentication-to-github#githubs-token-formats"},
			Keywords:    []string{"ghp_"},
			Pattern:     `\b(?P<secret>ghp_[A-Za-z0-9]{36})\b`,
			MinEntropy:  3.5,
		},
		{
			ID: "private-key", Title: "Private key", Severity: finding.Critical,
			Description: "A PEM-encoded private key (RSA, EC, DSA, PKCS#8, OpenSSH, encrypted PKCS#8). Whoever holds it can impersonate its owner or decrypt its traffic.",
			Remediation: "Revoke the key (certificate, SSH authorised keys, deploy keys), generate a new one where it is used, and keep it in a secret store.",
			Keywords:    []string{"-----begin"},
			Pattern:     `-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----(?:\\n|\\r\\n|[\r\n])(?:[A-Za-z0-9+/=:,\- \t]|\\n|\\r\\n|[\r\n]){64,}?-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----`,
			Multiline:   true,
			MaxLen:      16 << 10,
		},
		{
			ID: "jwt", Title: "JSON Web Token", Severity: finding.Medium,
			Description: "A signed JSON Web Token. Until it expires, it authenticates whoever presents it as its subject.",
			Remediation: "Revoke the token or rotate the signing key if it does not expire soon, and load tokens at run time instead.",
			Keywords:    []string{"eyj"},
			Pattern:     `\b(?P<secret>eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,})`,
			Check:       validJWT,
		},
		{
			ID: "url-password", Title: "Password in a URL", Severity: finding.High,
			Description: "A URL carries a user name and password (scheme://user:password@host): database, broker and HTTP credentials in clear.",
			Remediation: "Take the password out of the URL: pass it through a secret or an environment variable, and rotate it.",
			Keywords:    []string{"://"},
			Pattern:     `\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@"'<>]{1,64}:(?P<secret>[^\s:/@"'<>]{3,128})@[a-zA-Z0-9\-.\[\]]+`,
			Check:       urlPassword,
		},
	}
}
