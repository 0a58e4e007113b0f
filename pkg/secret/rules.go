package secret

import (
	"strings"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// Pattern pieces shared by the rules.
const (
	// assign is what sits between a key and its value: an optional
	// closing quote, an assignment (:=, =>, =, :) and an optional opening
	// quote.
	assign = `["']?[ \t]*(?::=|=>|=|:)[ \t]*["'\x60]?`
	// endTok ends a token whose alphabet holds '_' and '-': RE2 has no
	// lookahead, so the next byte (or the end) is consumed outside the
	// secret group.
	endTok = `(?:[^A-Za-z0-9_\-]|$)`
)

// Builtin returns mamori's built-in rules, fresh on each call (New
// compiles into them). Rules for formats that carry a fixed prefix are
// Prefix rules keyed on it; rules for formats without one are keyed on
// the vendor's name in the assignment and need entropy.
//
// Order matters where two rules match the same span: the earlier wins.
// Vendor formats come first (a GitHub token in an .npmrc is a GitHub
// token), then the rules that know the file around a value (a
// kubeconfig, a service account key), and last the rules that judge a
// value by its shape alone (private keys, JWTs, URL passwords).
func Builtin() []*Rule {
	var rules []*Rule
	for _, group := range [][]*Rule{cloudRules(), forgeRules(), chatRules(), saasRules(), aiRules(), registryRules(), configRules(), keyRules(), genericRules()} {
		rules = append(rules, group...)
	}
	for _, r := range rules {
		if r.Prefix {
			r.Pattern = anchorPrefix(r.Pattern)
		}
	}
	return rules
}

// anchorPrefix pins a Prefix rule's pattern to the start of its window,
// which the engine opens one byte before the keyword: the secret must
// begin at the keyword, after a non-word byte or the start of the line.
// Unanchored, the pattern would try every offset of the window, once per
// occurrence of the keyword.
func anchorPrefix(p string) string {
	flags := ""
	if strings.HasPrefix(p, "(?i)") {
		flags, p = "(?i)", p[len("(?i)"):]
	}
	return flags + `^(?:[^A-Za-z0-9_])?` + strings.TrimPrefix(p, `\b`)
}

func genericRules() []*Rule {
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
			ID: "jwt", Title: "JSON Web Token", Severity: finding.Medium,
			Description: "A signed JSON Web Token (its header decodes to JSON naming a signing algorithm). Until it expires, it authenticates whoever presents it as its subject.",
			Remediation: "Revoke the token or rotate the signing key if it does not expire soon, and load tokens at run time instead.",
			References:  []string{"https://datatracker.ietf.org/doc/html/rfc7519"},
			Keywords:    []string{"eyj"},
			Pattern:     `\b(?P<secret>eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,})`,
			Prefix:      true, MaxLen: 8 << 10,
			Check: validJWT,
		},
		{
			ID: "url-password", Title: "Password in a URL", Severity: finding.High,
			Description: "A URL carries a user name and password (scheme://user:password@host): database, broker and HTTP credentials in clear, including mongodb+srv:// and redis:// URLs.",
			Remediation: "Take the password out of the URL: pass it through a secret or an environment variable, and change it on the server it opens.",
			References:  []string{"https://datatracker.ietf.org/doc/html/rfc3986#section-3.2.1"},
			Keywords:    []string{"://"},
			Pattern:     `\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@"'<>]{1,64}:(?P<secret>[^\s:/@"'<>]{3,128})@[a-zA-Z0-9\-.\[\]]+`,
			Need:        "@",
			Check:       urlPassword,
		},
		{
			ID: "connection-string-password", Title: "Password in a database connection string", Severity: finding.High,
			Description: "An ADO.NET, ODBC or JDBC connection string holds a password (Password= or Pwd= after the server or user, or ?password= in a JDBC URL).",
			Remediation: "Keep the password out of the connection string (integrated or managed identity authentication, or a secret injected at run time), and change it on the database server.",
			References:  []string{"https://learn.microsoft.com/en-us/dotnet/framework/data/adonet/connection-string-syntax"},
			Keywords:    []string{"password=", "pwd="},
			Pattern:     `(?i)(?:(?:server|data source|host|hostname|address|uid|user id|user|username|database|initial catalog|driver|dsn)[ \t]*=[^;\r\n]*;[^\r\n]*?|[?&;])(?:password|pwd)[ \t]*=[ \t]*(?P<secret>\{[^}\r\n]{1,128}\}|[^;&\s"'{}]{3,128})`,
			Check:       notWord,
		},
	}
}

func cloudRules() []*Rule {
	const awsRemediation = "Deactivate and delete the key in IAM (https://console.aws.amazon.com/iam/home#/security_credentials), replace it with a role (IRSA, instance profile) or a key kept in a secret manager, and review CloudTrail for its use."
	return []*Rule{
		{
			ID: "aws-access-key-id", Title: "AWS access key ID", Severity: finding.High,
			Description: "An AWS access key ID (AKIA… long-term, ASIA… temporary). With its secret access key it signs requests as the IAM user or role it belongs to.",
			Remediation: awsRemediation,
			References:  []string{"https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"},
			Keywords:    []string{"akia", "asia", "abia", "acca", "a3t"},
			Pattern:     `\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`,
			MinEntropy:  3.0, Prefix: true, MaxLen: 24,
		},
		{
			ID: "aws-secret-access-key", Title: "AWS secret access key", Severity: finding.Critical,
			Description: "An AWS secret access key, assigned to a key named for it. It signs requests for its access key ID.",
			Remediation: awsRemediation,
			References:  []string{"https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"},
			Keywords:    []string{"aws_secret", "aws-secret", "awssecret", "secret_access_key", "secretaccesskey", "secret-access-key"},
			Pattern:     `(?i)(?:aws)?[_.\-]?secret[_.\-]?(?:access)?[_.\-]?key(?:[_.\-]?id)?` + assign + `(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`,
			MinEntropy:  4.0,
		},
		{
			ID: "aws-session-token", Title: "AWS session token", Severity: finding.High,
			Description: "An AWS session token (STS temporary credentials) assigned to AWS_SESSION_TOKEN or aws_security_token. With its ASIA… key pair it acts as the role until it expires.",
			Remediation: "Revoke the role's active sessions (IAM console, Roles, Revoke sessions: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html) and stop writing temporary credentials to files.",
			References:  []string{"https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_use-resources.html"},
			Keywords:    []string{"aws_session_token", "aws-session-token", "awssessiontoken", "aws_security_token"},
			Pattern:     `(?i)aws[_.\-]?(?:session|security)[_.\-]?token` + assign + `(?P<secret>[A-Za-z0-9/+]{100,}={0,2})`,
			MinEntropy:  4.5,
		},
		{
			ID: "aws-mws-key", Title: "Amazon MWS auth token", Severity: finding.High,
			Description: "An Amazon Marketplace Web Service auth token (amzn.mws.…): it calls the seller APIs for the account that granted it.",
			Remediation: "Revoke the developer's access in Seller Central (Apps and Services, Manage Your Apps) and migrate to the Selling Partner API with LWA credentials kept in a secret manager.",
			References:  []string{"https://docs.developer.amazonservices.com/en_US/dev_guide/DG_Registering.html"},
			Keywords:    []string{"amzn.mws."},
			Pattern:     `(?P<secret>amzn\.mws\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b`,
			Prefix:      true, MaxLen: 48,
		},
		{
			ID: "gcp-service-account-key", Title: "Google Cloud service account key", Severity: finding.Critical,
			Description: "A Google Cloud service account key file (JSON with \"type\": \"service_account\" and a PKCS#8 \"private_key\"). It acts as the service account until the key is deleted.",
			Remediation: "Delete the key (https://console.cloud.google.com/iam-admin/serviceaccounts, Keys tab, or gcloud iam service-accounts keys delete), move to workload identity federation, and review the audit logs for its use.",
			References:  []string{"https://cloud.google.com/iam/docs/keys-create-delete", "https://cloud.google.com/iam/docs/service-account-creds#key-types"},
			Keywords:    []string{"\"service_account\""},
			Pattern:     `"type"[ \t]*:[ \t]*"service_account"[^}]*?"private_key"[ \t]*:[ \t]*"(?P<secret>-----BEGIN PRIVATE KEY-----(?:\\n|[A-Za-z0-9+/=])+-----END PRIVATE KEY-----)`,
			Multiline:   true, MaxLen: 12 << 10,
			Check: gcpPrivateKey,
		},
		{
			ID: "gcp-api-key", Title: "Google API key", Severity: finding.Medium,
			Description: "A Google API key (AIza…) for Maps, Gemini, Firebase and other Google APIs; usage is billed to its project.",
			Remediation: "Delete or regenerate the key in the Google Cloud console (APIs & Services, Credentials: https://console.cloud.google.com/apis/credentials) and restrict the new one to its APIs and callers.",
			References:  []string{"https://cloud.google.com/docs/authentication/api-keys"},
			Keywords:    []string{"aiza"},
			Pattern:     `\b(?P<secret>AIza[A-Za-z0-9_\-]{35})` + endTok,
			MinEntropy:  3.5, Prefix: true, MaxLen: 48,
		},
		{
			ID: "gcp-oauth-client-secret", Title: "Google OAuth client secret", Severity: finding.High,
			Description: "A Google OAuth 2.0 client secret (GOCSPX-…): with its client ID it obtains tokens for the users who grant the app access.",
			Remediation: "Reset the secret in the Google Cloud console (APIs & Services, Credentials, the OAuth client: https://console.cloud.google.com/apis/credentials) and keep it in a secret manager.",
			References:  []string{"https://support.google.com/cloud/answer/6158849"},
			Keywords:    []string{"gocspx-"},
			Pattern:     `\b(?P<secret>GOCSPX-[A-Za-z0-9_\-]{28})` + endTok,
			MinEntropy:  3.5, Prefix: true, MaxLen: 40,
		},
		{
			ID: "azure-storage-account-key", Title: "Azure storage account key", Severity: finding.Critical,
			Description: "An Azure storage account access key (88 characters of base64, in AccountKey= of a connection string or an AZURE_STORAGE_KEY setting): full control of every blob, queue, table and file share in the account.",
			Remediation: "Rotate both account keys (storage account, Security + networking, Access keys: https://learn.microsoft.com/en-us/azure/storage/common/storage-account-keys-manage), move clients to Microsoft Entra ID authentication and consider disallowing shared key access.",
			References:  []string{"https://learn.microsoft.com/en-us/azure/storage/common/storage-configure-connection-string"},
			Keywords:    []string{"accountkey", "azure_storage_key", "azure-storage-key", "storage_account_key", "storageaccountkey", "storage_access_key"},
			Pattern:     `(?i)(?:accountkey[ \t]*=[ \t]*|(?:azure[_.\-]?)?storage[_.\-]?(?:account[_.\-]?)?(?:access[_.\-]?)?key` + assign + `)(?P<secret>[A-Za-z0-9+/]{86}==)`,
			MinEntropy:  4.5,
			Check:       azureStorageKey,
		},
		{
			ID: "azure-ad-client-secret", Title: "Microsoft Entra ID (Azure AD) client secret", Severity: finding.Critical,
			Description: "A Microsoft Entra ID application client secret (the xxx8Q~… format): with the app's client ID it signs in as the application and holds every permission granted to it.",
			Remediation: "Delete the secret in the app registration (Certificates & secrets: https://learn.microsoft.com/en-us/entra/identity-platform/how-to-add-credentials), use a certificate or workload identity federation instead, and review the sign-in logs.",
			References:  []string{"https://learn.microsoft.com/en-us/entra/identity-platform/how-to-add-credentials"},
			Keywords:    []string{"q~"},
			Pattern:     `(?:^|[^A-Za-z0-9_~.\-])(?P<secret>[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)`,
			MinEntropy:  3.5,
		},
		{
			ID: "azure-sas-token", Title: "Azure shared access signature", Severity: finding.High,
			Description: "An Azure Storage shared access signature (a URL query with sv= and sig=): whoever holds it has the permissions it names until it expires.",
			Remediation: "Revoke the SAS: rotate the account key that signed it, or delete the stored access policy it refers to; prefer short-lived user delegation SAS (https://learn.microsoft.com/en-us/azure/storage/common/storage-sas-overview).",
			References:  []string{"https://learn.microsoft.com/en-us/azure/storage/common/storage-sas-overview"},
			Keywords:    []string{"sig="},
			Pattern:     `\bsv=[0-9]{4}-[0-9]{2}-[0-9]{2}[^\s"'<>]{0,400}?[?&;]sig=(?P<secret>[A-Za-z0-9%+/]{40,128}(?:%3D|=){0,2})`,
			MinEntropy:  4.0,
		},
		{
			ID: "azure-shared-access-key", Title: "Azure Service Bus or Event Hubs shared access key", Severity: finding.High,
			Description: "A SharedAccessKey= in a Service Bus, Event Hubs or IoT Hub connection string: it signs tokens with the rights of its policy (send, listen or manage).",
			Remediation: "Regenerate the policy's keys (the namespace's Shared access policies: https://learn.microsoft.com/en-us/azure/service-bus-messaging/service-bus-sas) and move clients to Microsoft Entra ID authentication.",
			References:  []string{"https://learn.microsoft.com/en-us/azure/service-bus-messaging/service-bus-sas"},
			Keywords:    []string{"sharedaccesskey="},
			Pattern:     `(?i)SharedAccessKey=(?P<secret>[A-Za-z0-9+/]{43}=)`,
			MinEntropy:  4.0, Prefix: true, MaxLen: 64,
		},
		{
			ID: "digitalocean-pat", Title: "DigitalOcean personal access token", Severity: finding.Critical,
			Description: "A DigitalOcean personal access token (dop_v1_…): it manages the team's droplets, Kubernetes clusters, databases and DNS.",
			Remediation: "Delete the token in the control panel (API, Tokens: https://cloud.digitalocean.com/account/api/tokens) and create a scoped one kept in a secret manager.",
			References:  []string{"https://docs.digitalocean.com/reference/api/create-personal-access-token/"},
			Keywords:    []string{"dop_v1_"},
			Pattern:     `\b(?P<secret>dop_v1_[a-f0-9]{64})\b`,
			MinEntropy:  3.0, Prefix: true, MaxLen: 80,
		},
		{
			ID: "digitalocean-oauth-token", Title: "DigitalOcean OAuth token", Severity: finding.High,
			Description: "A DigitalOcean OAuth access or refresh token (doo_v1_…, dor_v1_…) issued to an application.",
			Remediation: "Revoke the application's access (https://cloud.digitalocean.com/account/api/access) or call the OAuth revoke endpoint, and keep tokens out of source.",
			References:  []string{"https://docs.digitalocean.com/reference/api/oauth/"},
			Keywords:    []string{"doo_v1_", "dor_v1_"},
			Pattern:     `\b(?P<secret>do[or]_v1_[a-f0-9]{64})\b`,
			MinEntropy:  3.0, Prefix: true, MaxLen: 80,
		},
		{
			ID: "heroku-api-key", Title: "Heroku API key", Severity: finding.High,
			Description: "A Heroku platform API key or OAuth token in the HRKU- format: it manages the account's apps, config vars and add-ons.",
			Remediation: "Revoke it (heroku authorizations:revoke, or regenerate the API key in Account settings: https://dashboard.heroku.com/account) and keep the new one out of source.",
			References:  []string{"https://devcenter.heroku.com/articles/authentication"},
			Keywords:    []string{"hrku-"},
			Pattern:     `\b(?P<secret>HRKU-AA[A-Za-z0-9_\-]{58})` + endTok,
			MinEntropy:  4.0, Prefix: true, MaxLen: 72,
		},
		{
			ID: "heroku-api-key-legacy", Title: "Heroku API key (legacy UUID)", Severity: finding.High,
			Description: "A legacy Heroku API key (a UUID) assigned to a key named for Heroku: it manages the account's apps.",
			Remediation: "Regenerate the API key in Account settings (https://dashboard.heroku.com/account) and keep the new one out of source.",
			References:  []string{"https://devcenter.heroku.com/articles/authentication"},
			Keywords:    []string{"heroku"},
			Pattern:     `(?i)heroku[a-z0-9_.\-]*?(?:api)?[_.\-]?(?:key|token)` + assign + `(?P<secret>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b`,
			MinEntropy:  3.0,
		},
		{
			ID: "cloudflare-api-token", Title: "Cloudflare API token or global API key", Severity: finding.High,
			Description: "A Cloudflare API token (40 characters) or global API key (37 hex digits) assigned to a key named for Cloudflare.",
			Remediation: "Roll or delete the token in the dashboard (My Profile, API Tokens: https://dash.cloudflare.com/profile/api-tokens); replace a global API key with a scoped token.",
			References:  []string{"https://developers.cloudflare.com/fundamentals/api/get-started/create-token/"},
			Keywords:    []string{"cloudflare", "cf_api_", "cf-api-", "cf_token", "cf_key"},
			Pattern:     `(?i)(?:cloudflare|cf)[a-z0-9_.\-]*?(?:api)?[_.\-]?(?:token|key)` + assign + `(?P<secret>[A-Za-z0-9_\-]{40}|[0-9a-f]{37})\b`,
			MinEntropy:  3.5,
		},
		{
			ID: "cloudflare-origin-ca-key", Title: "Cloudflare Origin CA key", Severity: finding.High,
			Description: "A Cloudflare Origin CA key (v1.0-…): it issues and revokes origin certificates for the account's zones.",
			Remediation: "Revoke the key (My Profile, API Tokens, Origin CA Key: https://developers.cloudflare.com/fundamentals/api/get-started/ca-keys/) and use a scoped API token instead.",
			References:  []string{"https://developers.cloudflare.com/fundamentals/api/get-started/ca-keys/"},
			Keywords:    []string{"v1.0-"},
			Pattern:     `\b(?P<secret>v1\.0-[a-f0-9]{24}-[a-f0-9]{146})\b`,
			MinEntropy:  3.0, Prefix: true, MaxLen: 184,
		},
		{
			ID: "alibaba-access-key-id", Title: "Alibaba Cloud AccessKey ID", Severity: finding.High,
			Description: "An Alibaba Cloud AccessKey ID (LTAI…). With its AccessKey secret it signs requests as the RAM user.",
			Remediation: "Disable and delete the AccessKey pair in the RAM console (https://ram.console.aliyun.com/users) and use RAM roles or STS tokens instead.",
			References:  []string{"https://www.alibabacloud.com/help/en/ram/user-guide/create-an-accesskey-pair"},
			Keywords:    []string{"ltai"},
			Pattern:     `\b(?P<secret>LTAI[A-Za-z0-9]{12,20})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 28, Check: mixedAlnum,
		},
	}
}

// githubToken is a rule for one of GitHub's 40-character token kinds:
// prefix, 30 random base62 characters and a CRC32 checksum in 6 more.
func githubToken(id, title, prefix string, sev finding.Severity, desc string) *Rule {
	return &Rule{
		ID: id, Title: title, Severity: sev, Description: desc,
		Remediation: "Revoke the token (https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/token-expiration-and-revocation; anyone can revoke a leaked token with the credential revocation API), and review the organisation's audit log for its use.",
		References:  []string{"https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/"},
		Keywords:    []string{prefix},
		Pattern:     `\b(?P<secret>` + prefix + `[A-Za-z0-9]{36})\b`,
		Prefix:      true, MaxLen: 48,
		Check: githubChecksum,
	}
}

// gitlabToken is a rule for one of GitLab's prefixed tokens: legacy ones
// are the prefix and 20 characters, routable ones (GitLab 17.x) longer
// with a .01.xxxxxxxxx tail.
func gitlabToken(id, title, prefix string, sev finding.Severity, desc string) *Rule {
	return &Rule{
		ID: id, Title: title, Severity: sev, Description: desc,
		Remediation: "Revoke the token in GitLab (https://docs.gitlab.com/security/tokens/#revoke-a-token, or the token revocation API for a leaked token), create a replacement with the least scope and expiry, and review the audit events.",
		References:  []string{"https://docs.gitlab.com/security/tokens/#token-prefixes"},
		Keywords:    []string{strings.ToLower(prefix)},
		Pattern:     `\b(?P<secret>` + prefix + `[A-Za-z0-9_\-]{20,80}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,10})?)` + endTok,
		MinEntropy:  3.5, Prefix: true, MaxLen: 104,
		Check: mixedAlnum,
	}
}

func forgeRules() []*Rule {
	return []*Rule{
		githubToken("github-pat", "GitHub personal access token (classic)", "ghp_", finding.Critical,
			"A GitHub classic personal access token (ghp_…, checksum verified): it acts as its user on every repository and organisation its scopes allow."),
		githubToken("github-oauth-token", "GitHub OAuth access token", "gho_", finding.High,
			"A GitHub OAuth app access token (gho_…, checksum verified): it acts as the user who authorised the app, within the app's scopes."),
		githubToken("github-user-to-server-token", "GitHub App user access token", "ghu_", finding.High,
			"A GitHub App user-to-server token (ghu_…, checksum verified): it acts as the user on what both the user and the app can reach."),
		githubToken("github-server-to-server-token", "GitHub App installation token", "ghs_", finding.High,
			"A GitHub App installation token (ghs_…, checksum verified; GITHUB_TOKEN in Actions is one): it acts as the app installation until it expires, one hour after issue."),
		githubToken("github-refresh-token", "GitHub App refresh token", "ghr_", finding.High,
			"A GitHub App refresh token (ghr_…, checksum verified): it obtains new user access tokens for months."),
		{
			ID: "github-fine-grained-pat", Title: "GitHub fine-grained personal access token", Severity: finding.High,
			Description: "A GitHub fine-grained personal access token (github_pat_…): it acts as its user on the repositories and permissions it was granted.",
			Remediation: "Revoke the token (Settings, Developer settings, Fine-grained tokens: https://github.com/settings/personal-access-tokens), and review the audit log for its use.",
			References:  []string{"https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/managing-your-personal-access-tokens"},
			Keywords:    []string{"github_pat_"},
			Pattern:     `\b(?P<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b`,
			MinEntropy:  4.0, Prefix: true, MaxLen: 100,
		},
		gitlabToken("gitlab-pat", "GitLab personal, project or group access token", "glpat-", finding.Critical,
			"A GitLab personal, project or group access token (glpat-…): it calls the API, and with write scopes pushes code and changes settings, as its user or bot."),
		gitlabToken("gitlab-deploy-token", "GitLab deploy token", "gldt-", finding.High,
			"A GitLab deploy token (gldt-…): it reads, and with write scopes pushes, the project's repository, packages and container images."),
		gitlabToken("gitlab-runner-token", "GitLab runner authentication token", "glrt-", finding.High,
			"A GitLab runner authentication token (glrt-…): whoever holds it can pose as the runner and receive jobs with their CI/CD variables and secrets."),
		gitlabToken("gitlab-pipeline-trigger-token", "GitLab pipeline trigger token", "glptt-", finding.Medium,
			"A GitLab pipeline trigger token (glptt-…): it starts the project's pipelines, with variables of the caller's choosing, as the token's owner."),
		gitlabToken("gitlab-ci-build-token", "GitLab CI/CD job token", "glcbt-", finding.Medium,
			"A GitLab CI/CD job token (glcbt-…): until its job ends it calls the API with the job's permissions."),
		gitlabToken("gitlab-runner-registration-token", "GitLab runner registration token", "GR1348941", finding.High,
			"A GitLab runner registration token (GR1348941…, deprecated): it registers runners that then receive the project's or group's jobs and their secrets."),
		{
			ID: "bitbucket-app-password", Title: "Bitbucket app password", Severity: finding.High,
			Description: "A Bitbucket Cloud app password (ATBB…): with the user name it acts as the user on the API and over Git within its permissions.",
			Remediation: "Revoke the app password (Personal settings, App passwords: https://bitbucket.org/account/settings/app-passwords/) and move to scoped API tokens.",
			References:  []string{"https://support.atlassian.com/bitbucket-cloud/docs/app-passwords/"},
			Keywords:    []string{"atbb"},
			Pattern:     `\b(?P<secret>ATBB[A-Za-z0-9]{32})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 40, Check: mixedAlnum,
		},
		{
			ID: "bitbucket-access-token", Title: "Bitbucket repository, project or workspace access token", Severity: finding.High,
			Description: "A Bitbucket Cloud access token (ATCTT3xFfGN0…): it acts on its repository, project or workspace with the scopes it was given.",
			Remediation: "Revoke the token (the repository's, project's or workspace's settings, Access tokens: https://support.atlassian.com/bitbucket-cloud/docs/revoke-a-repository-access-token/).",
			References:  []string{"https://support.atlassian.com/bitbucket-cloud/docs/repository-access-tokens/"},
			Keywords:    []string{"atctt3xffgn0"},
			Pattern:     `\b(?P<secret>ATCTT3xFfGN0[A-Za-z0-9_\-]{100,300}=[A-F0-9]{8})\b`,
			MinEntropy:  4.5, Prefix: true, MaxLen: 340,
		},
		{
			ID: "atlassian-api-token", Title: "Atlassian API token", Severity: finding.High,
			Description: "An Atlassian account API token (ATATT3xFfGF0…): with the account's e-mail address it calls the Jira, Confluence and Bitbucket APIs as the user.",
			Remediation: "Revoke the token (https://id.atlassian.com/manage-profile/security/api-tokens) and review the product audit logs.",
			References:  []string{"https://support.atlassian.com/atlassian-account/docs/manage-api-tokens-for-your-atlassian-account/"},
			Keywords:    []string{"atatt3xffgf0"},
			Pattern:     `\b(?P<secret>ATATT3xFfGF0[A-Za-z0-9_\-]{100,300}=[A-F0-9]{8})\b`,
			MinEntropy:  4.5, Prefix: true, MaxLen: 340,
		},
	}
}

func chatRules() []*Rule {
	const slackRemediation = "Revoke the token (auth.revoke, or regenerate it in the app's settings, OAuth & Permissions: https://api.slack.com/apps) and review the workspace's access logs."
	slackRefs := []string{"https://api.slack.com/authentication/token-types"}
	return []*Rule{
		{
			ID: "slack-bot-token", Title: "Slack bot token", Severity: finding.High,
			Description: "A Slack bot user token (xoxb-…): it reads and posts in the channels the bot is in, within the app's scopes.",
			Remediation: slackRemediation, References: slackRefs,
			Keywords: []string{"xoxb-"},
			Pattern:  `\b(?P<secret>xoxb-[0-9]{10,13}-[0-9]{10,13}-[A-Za-z0-9]{24})\b`,
			Prefix:   true, MaxLen: 64, MinEntropy: 3.5,
		},
		{
			ID: "slack-user-token", Title: "Slack user token", Severity: finding.High,
			Description: "A Slack user token (xoxp-…): it acts as the user who installed the app, on everything the user can see.",
			Remediation: slackRemediation, References: slackRefs,
			Keywords: []string{"xoxp-"},
			Pattern:  `\b(?P<secret>xoxp-[0-9]{10,13}-[0-9]{10,13}-[0-9]{10,13}-[a-f0-9]{32})\b`,
			Prefix:   true, MaxLen: 100, MinEntropy: 3.5,
		},
		{
			ID: "slack-app-token", Title: "Slack app-level token", Severity: finding.High,
			Description: "A Slack app-level token (xapp-…): it opens Socket Mode connections and receives the app's events.",
			Remediation: slackRemediation, References: slackRefs,
			Keywords: []string{"xapp-"},
			Pattern:  `\b(?P<secret>xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,13}-[a-f0-9]{64})\b`,
			Prefix:   true, MaxLen: 104, MinEntropy: 3.5,
		},
		{
			ID: "slack-legacy-token", Title: "Slack legacy, workspace or refresh token", Severity: finding.High,
			Description: "A Slack token of the older kinds: workspace app (xoxa-), refresh (xoxr-), legacy user session (xoxs-) or organisation (xoxo-) tokens.",
			Remediation: slackRemediation, References: slackRefs,
			Keywords: []string{"xoxa-", "xoxr-", "xoxs-", "xoxo-"},
			Pattern:  `\b(?P<secret>xox[aros]-(?:[0-9A-Za-z]{1,64}-){1,5}[0-9A-Za-z]{10,128})\b`,
			Prefix:   true, MaxLen: 256, MinEntropy: 3.5,
		},
		{
			ID: "slack-webhook", Title: "Slack incoming webhook URL", Severity: finding.Medium,
			Description: "A Slack incoming webhook or workflow trigger URL: anyone who has it posts messages to its channel, a ready tool for phishing colleagues.",
			Remediation: "Remove the webhook from the app's Incoming Webhooks page (https://api.slack.com/apps) or delete the workflow trigger, and keep the new URL in a secret.",
			References:  []string{"https://api.slack.com/messaging/webhooks"},
			Keywords:    []string{"hooks.slack.com/"},
			Pattern:     `(?P<secret>hooks\.slack\.com/(?:services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{24}|(?:workflows|triggers)/T[A-Z0-9]{6,12}/A[A-Z0-9]{6,12}/[0-9]{8,20}/[A-Za-z0-9]{32}))\b`,
			Prefix:      true, MaxLen: 140, MinEntropy: 3.5,
		},
		{
			ID: "discord-bot-token", Title: "Discord bot token", Severity: finding.Medium,
			Description: "A Discord bot token (the bot's base64 user ID, a timestamp and an HMAC) on a line naming Discord: it controls the bot in every server it has joined.",
			Remediation: "Reset the token in the Developer Portal (the application's Bot page: https://discord.com/developers/applications).",
			References:  []string{"https://discord.com/developers/docs/reference#authentication"},
			Keywords:    []string{"discord"},
			Pattern:     `\b(?P<secret>[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})\b`,
			MinEntropy:  4.0, Check: discordBotToken,
		},
		{
			ID: "discord-webhook", Title: "Discord webhook URL", Severity: finding.Medium,
			Description: "A Discord webhook URL: anyone who has it posts to its channel under any name and avatar.",
			Remediation: "Delete the webhook (channel settings, Integrations, Webhooks) and keep its replacement in a secret.",
			References:  []string{"https://discord.com/developers/docs/resources/webhook"},
			Keywords:    []string{"discord.com/api/webhooks/", "discordapp.com/api/webhooks/"},
			Pattern:     `(?P<secret>discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,68})` + endTok,
			Prefix:      true, MaxLen: 128, MinEntropy: 3.5,
		},
		{
			ID: "teams-webhook", Title: "Microsoft Teams incoming webhook URL", Severity: finding.Medium,
			Description: "A Microsoft Teams incoming webhook URL (….webhook.office.com/webhookb2/…): anyone who has it posts cards to its channel.",
			Remediation: "Remove the Incoming Webhook connector from the channel (Manage channel, Connectors) and move to a Workflows webhook kept in a secret.",
			References:  []string{"https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook"},
			Keywords:    []string{"webhook.office.com/webhookb2/"},
			Pattern:     `(?P<secret>webhook\.office\.com/webhookb2/[0-9a-f\-]{36}@[0-9a-f\-]{36}/IncomingWebhook/[0-9a-f]{32}/[0-9a-f\-]{36}(?:/[A-Za-z0-9_\-]{20,80})?)`,
			Prefix:      true, MaxLen: 256,
		},
		{
			ID: "telegram-bot-token", Title: "Telegram bot token", Severity: finding.Medium,
			Description: "A Telegram bot token (bot ID, a colon and 35 characters starting AA) on a line naming Telegram or a bot token: it reads and sends the bot's messages.",
			Remediation: "Revoke the token with @BotFather (/revoke) and keep the new one in a secret.",
			References:  []string{"https://core.telegram.org/bots/api#authorizing-your-bot"},
			Keywords:    []string{"telegram", "bot_token", "bottoken", "bot-token"},
			Pattern:     `\b(?P<secret>[0-9]{8,10}:AA[A-Za-z0-9_\-]{33})` + endTok,
			MinEntropy:  3.5,
		},
	}
}

func saasRules() []*Rule {
	return []*Rule{
		{
			ID: "stripe-secret-key", Title: "Stripe live secret key", Severity: finding.Critical,
			Description: "A Stripe live-mode secret key (sk_live_…): it charges cards, issues refunds and pays out on the account.",
			Remediation: "Roll the key in the Dashboard (Developers, API keys: https://dashboard.stripe.com/apikeys), use restricted keys for services, and review the request logs.",
			References:  []string{"https://docs.stripe.com/keys"},
			Keywords:    []string{"sk_live_"},
			Pattern:     `\b(?P<secret>sk_live_[A-Za-z0-9]{24,247})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 264,
		},
		{
			ID: "stripe-restricted-key", Title: "Stripe live restricted key", Severity: finding.High,
			Description: "A Stripe live-mode restricted key (rk_live_…): it has the API permissions chosen when it was made.",
			Remediation: "Roll or delete the key in the Dashboard (Developers, API keys: https://dashboard.stripe.com/apikeys).",
			References:  []string{"https://docs.stripe.com/keys/restricted-api-keys"},
			Keywords:    []string{"rk_live_"},
			Pattern:     `\b(?P<secret>rk_live_[A-Za-z0-9]{24,247})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 264,
		},
		{
			ID: "stripe-test-key", Title: "Stripe test-mode secret key", Severity: finding.Low,
			Description: "A Stripe test-mode secret or restricted key (sk_test_…, rk_test_…): no money moves, but it reads and changes the account's test data and names the account. The key from Stripe's documentation is not reported.",
			Remediation: "Roll the test key in the Dashboard (https://dashboard.stripe.com/test/apikeys) and load it from the environment.",
			References:  []string{"https://docs.stripe.com/keys#test-live-modes"},
			Keywords:    []string{"sk_test_", "rk_test_"},
			Pattern:     `\b(?P<secret>[sr]k_test_[A-Za-z0-9]{24,247})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 264,
		},
		{
			ID: "stripe-webhook-secret", Title: "Stripe webhook signing secret", Severity: finding.Medium,
			Description: "A Stripe webhook endpoint signing secret (whsec_…): whoever has it forges events the endpoint will trust.",
			Remediation: "Roll the endpoint's signing secret (Developers, Webhooks: https://dashboard.stripe.com/webhooks) and load it from a secret.",
			References:  []string{"https://docs.stripe.com/webhooks#verify-events"},
			Keywords:    []string{"whsec_"},
			Pattern:     `\b(?P<secret>whsec_[A-Za-z0-9+/]{32,64}={0,2})`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 80,
		},
		{
			ID: "twilio-api-key", Title: "Twilio API key", Severity: finding.High,
			Description: "A Twilio API key SID (SK and 32 hex digits) on a line naming Twilio; with its secret it calls the account's APIs (messages, calls, numbers).",
			Remediation: "Delete the API key in the Twilio Console (Account, the API keys & tokens page: https://console.twilio.com/us1/account/keys-credentials/api-keys) and create a new one.",
			References:  []string{"https://www.twilio.com/docs/iam/api-keys"},
			Keywords:    []string{"twilio"},
			Pattern:     `\b(?P<secret>SK[0-9a-f]{32})\b`,
			MinEntropy:  3.2,
		},
		{
			ID: "twilio-auth-token", Title: "Twilio auth token", Severity: finding.Critical,
			Description: "A Twilio account auth token (32 hex digits) assigned to a key named for Twilio or following its account SID (AC…): it is the account's master credential.",
			Remediation: "Rotate the auth token in the Twilio Console (https://help.twilio.com/articles/223136027), promote the secondary token, and move services to API keys.",
			References:  []string{"https://www.twilio.com/docs/iam/api/authtoken"},
			Keywords:    []string{"twilio"},
			Pattern:     `(?i)(?:twilio[a-z0-9_.\-]*?auth[_.\-]?token` + assign + `|\bAC[0-9a-f]{32}["']?[ \t]*[,:][ \t]*["']?)(?P<secret>[0-9a-f]{32})\b`,
			MinEntropy:  3.2,
		},
		{
			ID: "sendgrid-api-key", Title: "SendGrid API key", Severity: finding.High,
			Description: "A Twilio SendGrid API key (SG.….…): it sends mail as the account's verified senders, a ready tool for phishing.",
			Remediation: "Delete the key (Settings, API Keys: https://app.sendgrid.com/settings/api_keys) and create one with the least scopes.",
			References:  []string{"https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys"},
			Keywords:    []string{"sg."},
			Pattern:     `\b(?P<secret>SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})` + endTok,
			MinEntropy:  4.0, Prefix: true, MaxLen: 80,
		},
		{
			ID: "mailgun-api-key", Title: "Mailgun API key", Severity: finding.High,
			Description: "A Mailgun API key (key-… or the newer hex triple) on a line naming Mailgun: it sends mail from the account's domains.",
			Remediation: "Delete the key (API Security: https://app.mailgun.com/settings/api_security) and create a domain sending key instead.",
			References:  []string{"https://documentation.mailgun.com/docs/mailgun/api-reference/authentication"},
			Keywords:    []string{"mailgun"},
			Pattern:     `\b(?P<secret>key-[0-9a-f]{32}|[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})\b`,
			MinEntropy:  3.2,
		},
		{
			ID: "mailchimp-api-key", Title: "Mailchimp API key", Severity: finding.Medium,
			Description: "A Mailchimp Marketing API key (32 hex digits and the data centre, -us21): it reads the audiences and sends campaigns.",
			Remediation: "Disable the key (Profile, Extras, API keys: https://mailchimp.com/help/about-api-keys/) and create a new one kept in a secret.",
			References:  []string{"https://mailchimp.com/developer/marketing/guides/quick-start/#generate-your-api-key"},
			Keywords:    []string{"-us1", "-us2", "-us3", "-us4", "-us5", "-us6", "-us7", "-us8", "-us9"},
			Pattern:     `\b(?P<secret>[0-9a-f]{32}-us[0-9]{1,2})\b`,
			MinEntropy:  3.2,
		},
		{
			ID: "shopify-access-token", Title: "Shopify access token", Severity: finding.High,
			Description: "A Shopify Admin API access token (shpat_ custom app, shpca_ custom app, shppa_ private app): it reads and changes the shop's orders, customers and products.",
			Remediation: "Uninstall the app or rotate its credentials in the shop admin (Settings, Apps and sales channels, Develop apps: https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens).",
			References:  []string{"https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens"},
			Keywords:    []string{"shpat_", "shpca_", "shppa_"},
			Pattern:     `\b(?P<secret>shp(?:at|ca|pa)_[a-fA-F0-9]{32})\b`,
			MinEntropy:  3.2, Prefix: true, MaxLen: 40,
		},
		{
			ID: "shopify-shared-secret", Title: "Shopify app shared secret", Severity: finding.High,
			Description: "A Shopify app's shared secret (shpss_…): it signs OAuth exchanges and webhooks the app trusts.",
			Remediation: "Rotate the app's client secret in the Partner Dashboard or the shop admin's app settings.",
			References:  []string{"https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens"},
			Keywords:    []string{"shpss_"},
			Pattern:     `\b(?P<secret>shpss_[a-fA-F0-9]{32})\b`,
			MinEntropy:  3.2, Prefix: true, MaxLen: 40,
		},
		{
			ID: "square-access-token", Title: "Square access token", Severity: finding.Critical,
			Description: "A Square production access token (EAAA…, or the legacy sq0atp-…): it takes payments and reads the seller's customers and transactions.",
			Remediation: "Revoke the token in the Developer Console (the application's OAuth or Credentials page: https://developer.squareup.com/apps) and replace it.",
			References:  []string{"https://developer.squareup.com/docs/build-basics/access-tokens"},
			Keywords:    []string{"eaaa", "sq0atp-"},
			Pattern:     `\b(?P<secret>EAAA[A-Za-z0-9_\-]{60}|sq0atp-[A-Za-z0-9_\-]{22})` + endTok,
			MinEntropy:  4.0, Prefix: true, MaxLen: 72,
		},
		{
			ID: "square-oauth-secret", Title: "Square OAuth application secret", Severity: finding.High,
			Description: "A Square OAuth application secret (sq0csp-…): with the application ID it obtains tokens for the sellers who authorised the app.",
			Remediation: "Replace the application secret in the Developer Console (https://developer.squareup.com/apps, OAuth page).",
			References:  []string{"https://developer.squareup.com/docs/oauth-api/overview"},
			Keywords:    []string{"sq0csp-"},
			Pattern:     `\b(?P<secret>sq0csp-[A-Za-z0-9_\-]{43})` + endTok,
			MinEntropy:  4.0, Prefix: true, MaxLen: 56,
		},
		{
			ID: "braintree-access-token", Title: "PayPal Braintree production access token", Severity: finding.Critical,
			Description: "A PayPal Braintree production access token (access_token$production$…): it takes payments and refunds on the merchant account.",
			Remediation: "Revoke the token and create a new API key pair in the Braintree Control Panel (Settings, API: https://developer.paypal.com/braintree/articles/control-panel/important-gateway-credentials).",
			References:  []string{"https://developer.paypal.com/braintree/articles/control-panel/important-gateway-credentials"},
			Keywords:    []string{"access_token$production$"},
			Pattern:     `(?P<secret>access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 80,
		},
		{
			ID: "datadog-api-key", Title: "Datadog API or application key", Severity: finding.High,
			Description: "A Datadog API key (32 hex digits) or application key (40) assigned to a key named for Datadog (DD_API_KEY, DD_APP_KEY): it submits data, and an application key also reads the organisation's data and changes monitors.",
			Remediation: "Revoke the key (Organization Settings, API Keys or Application Keys: https://docs.datadoghq.com/account_management/api-app-keys/) and create a new one.",
			References:  []string{"https://docs.datadoghq.com/account_management/api-app-keys/"},
			Keywords:    []string{"datadog", "dd_api_key", "dd_app_key", "dd_application_key", "dd-api-key", "dd-application-key"},
			Pattern:     `(?i)(?:datadog|dd)[a-z0-9_.\-]*?(?:api|app(?:lication)?)[_.\-]?key` + assign + `(?P<secret>[0-9a-f]{40}|[0-9a-f]{32})\b`,
			MinEntropy:  3.2,
		},
		{
			ID: "newrelic-user-api-key", Title: "New Relic user API key", Severity: finding.High,
			Description: "A New Relic user API key (NRAK-…): it queries and configures the accounts its user can reach through NerdGraph.",
			Remediation: "Delete the key (API keys UI: https://one.newrelic.com/admin-portal/api-keys/home) and create a new one.",
			References:  []string{"https://docs.newrelic.com/docs/apis/intro-apis/new-relic-api-keys/"},
			Keywords:    []string{"nrak-"},
			Pattern:     `\b(?P<secret>NRAK-[A-Z0-9]{27})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 40,
		},
		{
			ID: "newrelic-insert-key", Title: "New Relic insert key", Severity: finding.Medium,
			Description: "A New Relic Insights insert key (NRII-…): it writes events into the account.",
			Remediation: "Delete the key (API keys UI: https://one.newrelic.com/admin-portal/api-keys/home) and use a license key kept in a secret.",
			References:  []string{"https://docs.newrelic.com/docs/apis/intro-apis/new-relic-api-keys/"},
			Keywords:    []string{"nrii-"},
			Pattern:     `\b(?P<secret>NRII-[A-Za-z0-9_\-]{32})` + endTok,
			MinEntropy:  3.5, Prefix: true, MaxLen: 48,
		},
		{
			ID: "sentry-auth-token", Title: "Sentry auth token", Severity: finding.High,
			Description: "A Sentry organisation auth token (sntrys_…) or user auth token (sntryu_…): it uploads releases and source maps and, with wider scopes, manages projects.",
			Remediation: "Revoke the token (Settings, Auth Tokens or Developer Settings: https://docs.sentry.io/account/auth-tokens/) and create a new one.",
			References:  []string{"https://docs.sentry.io/account/auth-tokens/"},
			Keywords:    []string{"sntrys_", "sntryu_"},
			Pattern:     `\b(?P<secret>sntrys_eyJ[A-Za-z0-9+/=_\-]{60,500}|sntryu_[a-f0-9]{64})(?:[^A-Za-z0-9+/=_\-]|$)`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 520,
		},
		{
			ID: "grafana-cloud-token", Title: "Grafana Cloud access policy token", Severity: finding.High,
			Description: "A Grafana Cloud access policy or API token (glc_… wrapping base64 JSON): it reads and writes metrics, logs and traces in the stack, within its scopes.",
			Remediation: "Delete the token (Grafana Cloud portal, Access policies: https://grafana.com/docs/grafana-cloud/account-management/authentication-and-permissions/access-policies/).",
			References:  []string{"https://grafana.com/docs/grafana-cloud/account-management/authentication-and-permissions/access-policies/"},
			Keywords:    []string{"glc_"},
			Pattern:     `\b(?P<secret>glc_eyJ[A-Za-z0-9+/]{30,400}={0,2})`,
			Prefix:      true, MaxLen: 420, Check: base64JSONToken,
		},
		{
			ID: "grafana-service-account-token", Title: "Grafana service account token", Severity: finding.High,
			Description: "A Grafana service account token (glsa_…): it calls the instance's HTTP API with the service account's role.",
			Remediation: "Delete the token (Administration, Service accounts: https://grafana.com/docs/grafana/latest/administration/service-accounts/).",
			References:  []string{"https://grafana.com/docs/grafana/latest/administration/service-accounts/"},
			Keywords:    []string{"glsa_"},
			Pattern:     `\b(?P<secret>glsa_[A-Za-z0-9]{32}_[a-f0-9]{8})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 48,
		},
		{
			ID: "linear-api-key", Title: "Linear API key", Severity: finding.Medium,
			Description: "A Linear personal API key (lin_api_…): it reads and writes the workspace's issues as its user.",
			Remediation: "Revoke the key (Settings, Account, Security & access: https://linear.app/settings/account/security).",
			References:  []string{"https://linear.app/developers/graphql#personal-api-keys"},
			Keywords:    []string{"lin_api_"},
			Pattern:     `\b(?P<secret>lin_api_[A-Za-z0-9]{40})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 56,
		},
		{
			ID: "postman-api-key", Title: "Postman API key", Severity: finding.High,
			Description: "A Postman API key (PMAK-…): it reads and changes the user's collections and environments, which often hold more secrets.",
			Remediation: "Revoke the key (Settings, API keys: https://go.postman.co/settings/me/api-keys).",
			References:  []string{"https://learning.postman.com/docs/developer/postman-api/authentication/"},
			Keywords:    []string{"pmak-"},
			Pattern:     `\b(?P<secret>PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b`,
			MinEntropy:  3.2, Prefix: true, MaxLen: 72,
		},
		{
			ID: "pulumi-access-token", Title: "Pulumi access token", Severity: finding.High,
			Description: "A Pulumi Cloud access token (pul-…): it reads stack state, with its decrypted secrets, and runs updates.",
			Remediation: "Delete the token (Pulumi Cloud, Access Tokens: https://www.pulumi.com/docs/pulumi-cloud/access-management/access-tokens/).",
			References:  []string{"https://www.pulumi.com/docs/pulumi-cloud/access-management/access-tokens/"},
			Keywords:    []string{"pul-"},
			Pattern:     `\b(?P<secret>pul-[a-f0-9]{40})\b`,
			MinEntropy:  3.2, Prefix: true, MaxLen: 48,
		},
		{
			ID: "doppler-token", Title: "Doppler token", Severity: finding.High,
			Description: "A Doppler personal, service, service account, CLI, SCIM or audit token (dp.pt., dp.st., …): it reads the secrets of the projects it can reach.",
			Remediation: "Revoke the token in the Doppler dashboard (https://docs.doppler.com/docs/service-tokens) or with doppler configs tokens revoke.",
			References:  []string{"https://docs.doppler.com/reference/auth-token-formats"},
			Keywords:    []string{"dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."},
			Pattern:     `\b(?P<secret>dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9\-_]{2,35}\.)?[A-Za-z0-9]{40,44})\b`,
			MinEntropy:  3.5, Prefix: true, MaxLen: 96,
		},
		{
			ID: "onepassword-service-account-token", Title: "1Password service account token", Severity: finding.Critical,
			Description: "A 1Password service account token (ops_ and base64 JSON): it reads every item in the vaults the service account was given.",
			Remediation: "Revoke the service account token (1Password.com, Developer, Service accounts: https://developer.1password.com/docs/service-accounts/manage-service-accounts/) and review the usage report.",
			References:  []string{"https://developer.1password.com/docs/service-accounts/"},
			Keywords:    []string{"ops_eyj"},
			Pattern:     `\b(?P<secret>ops_eyJ[A-Za-z0-9+/_\-]{100,}={0,2})`,
			Prefix:      true, MaxLen: 2048, Check: base64JSONToken,
		},
		{
			ID: "databricks-token", Title: "Databricks personal access token", Severity: finding.High,
			Description: "A Databricks personal access token (dapi…): it runs jobs and queries and reads data in the workspace as its user.",
			Remediation: "Revoke the token (User settings, Developer, Access tokens, or the token management API: https://docs.databricks.com/en/dev-tools/auth/pat.html) and prefer OAuth machine-to-machine credentials.",
			References:  []string{"https://docs.databricks.com/en/dev-tools/auth/pat.html"},
			Keywords:    []string{"dapi"},
			Pattern:     `\b(?P<secret>dapi[0-9a-f]{32}(?:-[0-9])?)\b`,
			MinEntropy:  3.2, Prefix: true, MaxLen: 40,
		},
		{
			ID: "vault-token", Title: "HashiCorp Vault token", Severity: finding.High,
			Description: "A HashiCorp Vault service, batch or recovery token (hvs., hvb., hvr.): it reads the secrets its policies allow until it expires or is revoked.",
			Remediation: "Revoke the token (vault token revoke, or its accessor: https://developer.hashicorp.com/vault/docs/commands/token/revoke) and review the audit device log.",
			References:  []string{"https://developer.hashicorp.com/vault/docs/concepts/tokens#token-prefixes"},
			Keywords:    []string{"hvs.", "hvb.", "hvr."},
			Pattern:     `\b(?P<secret>hv[sbr]\.[A-Za-z0-9_\-]{24,400})` + endTok,
			MinEntropy:  4.0, Prefix: true, MaxLen: 420,
		},
		{
			ID: "vault-token-legacy", Title: "HashiCorp Vault token (legacy)", Severity: finding.High,
			Description: "A Vault token in the format before 1.10 (s. and 24 characters) on a line naming Vault.",
			Remediation: "Revoke the token (vault token revoke: https://developer.hashicorp.com/vault/docs/commands/token/revoke) and review the audit device log.",
			References:  []string{"https://developer.hashicorp.com/vault/docs/concepts/tokens"},
			Keywords:    []string{"vault"},
			Pattern:     `\b(?P<secret>s\.[A-Za-z0-9]{24})\b`,
			MinEntropy:  3.5, Check: mixedAlnum,
		},
		{
			ID: "terraform-cloud-token", Title: "HCP Terraform (Terraform Cloud) API token", Severity: finding.High,
			Description: "An HCP Terraform or Terraform Enterprise API token (….atlasv1.…): it reads workspace state, variables included, and queues runs.",
			Remediation: "Revoke the token (User, organisation or team settings, Tokens: https://developer.hashicorp.com/terraform/cloud-docs/users-teams-organizations/api-tokens).",
			References:  []string{"https://developer.hashicorp.com/terraform/cloud-docs/users-teams-organizations/api-tokens"},
			Keywords:    []string{".atlasv1."},
			Pattern:     `\b(?P<secret>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-]{60,70})` + endTok,
			MinEntropy:  4.0,
		},
		{
			ID: "hcp-client-secret", Title: "HashiCorp Cloud Platform service principal secret", Severity: finding.High,
			Description: "An HCP service principal client secret assigned to HCP_CLIENT_SECRET: with the client ID it manages the organisation's HCP resources (Vault, Packer, Boundary).",
			Remediation: "Delete the service principal key (HCP portal, Access control (IAM), Service principals: https://developer.hashicorp.com/hcp/docs/hcp/iam/service-principal).",
			References:  []string{"https://developer.hashicorp.com/hcp/docs/hcp/iam/service-principal"},
			Keywords:    []string{"hcp_client_secret", "hcp-client-secret", "hcpclientsecret"},
			Pattern:     `(?i)hcp[_\-]?client[_\-]?secret` + assign + `(?P<secret>[A-Za-z0-9_\-]{40,80})` + endTok,
			MinEntropy:  4.0,
		},
	}
}

func aiRules() []*Rule {
	const openaiRemediation = "Delete the key (https://platform.openai.com/api-keys, or the organisation's Admin keys page), create a project-scoped one kept in a secret, and check the usage dashboard."
	openaiRefs := []string{"https://help.openai.com/en/articles/5112595-best-practices-for-api-key-safety"}
	openai := func(id, title, kind string, sev finding.Severity, desc string) *Rule {
		return &Rule{
			ID: id, Title: title, Severity: sev, Description: desc,
			Remediation: openaiRemediation, References: openaiRefs,
			Keywords: []string{"sk-" + kind + "-"},
			// Every OpenAI key holds T3BlbkFJ (base64 of "OpenAI"); the
			// check asks for it.
			Pattern: `\b(?P<secret>sk-` + kind + `-[A-Za-z0-9_\-]{40,300})` + endTok,
			Prefix:  true, MaxLen: 320, MinEntropy: 4.0, Check: openAIKey,
		}
	}
	return []*Rule{
		openai("openai-project-key", "OpenAI project API key", "proj", finding.High,
			"An OpenAI project API key (sk-proj-…): it calls the models, files and assistants of its project, billed to the organisation."),
		openai("openai-service-account-key", "OpenAI service account key", "svcacct", finding.High,
			"An OpenAI service account key (sk-svcacct-…): it calls the API as a project's service account, billed to the organisation."),
		openai("openai-admin-key", "OpenAI admin key", "admin", finding.Critical,
			"An OpenAI organisation admin key (sk-admin-…): it manages the organisation's users, projects and keys."),
		{
			ID: "openai-api-key", Title: "OpenAI API key (legacy)", Severity: finding.High,
			Description: "An OpenAI user API key in the legacy format (sk-, 20 characters, T3BlbkFJ, 20 characters): it calls the API billed to the organisation.",
			Remediation: openaiRemediation, References: openaiRefs,
			Keywords:   []string{"t3blbkfj"},
			Pattern:    `\b(?P<secret>sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})\b`,
			MinEntropy: 4.0,
		},
		{
			ID: "anthropic-api-key", Title: "Anthropic API key", Severity: finding.High,
			Description: "An Anthropic Claude API key (sk-ant-api03-…): it calls the models billed to its workspace.",
			Remediation: "Delete the key (Console, Settings, API keys: https://console.anthropic.com/settings/keys) and create a new one kept in a secret.",
			References:  []string{"https://docs.anthropic.com/en/api/overview#authentication"},
			Keywords:    []string{"sk-ant-api03-"},
			Pattern:     `\b(?P<secret>sk-ant-api03-[A-Za-z0-9_\-]{93}AA)` + endTok,
			MinEntropy:  4.0, Prefix: true, MaxLen: 120,
		},
		{
			ID: "anthropic-admin-key", Title: "Anthropic admin API key", Severity: finding.Critical,
			Description: "An Anthropic Admin API key (sk-ant-admin01-…): it manages the organisation's members, workspaces and API keys.",
			Remediation: "Delete the key (Console, Settings, Admin keys: https://console.anthropic.com/settings/admin-keys).",
			References:  []string{"https://docs.anthropic.com/en/api/administration-api"},
			Keywords:    []string{"sk-ant-admin01-"},
			Pattern:     `\b(?P<secret>sk-ant-admin01-[A-Za-z0-9_\-]{93}AA)` + endTok,
			MinEntropy:  4.0, Prefix: true, MaxLen: 120,
		},
		{
			ID: "huggingface-token", Title: "Hugging Face access token", Severity: finding.High,
			Description: "A Hugging Face user or organisation access token (hf_…, api_org_…): it reads private models and datasets and, with write access, pushes to them.",
			Remediation: "Invalidate the token (Settings, Access Tokens: https://huggingface.co/settings/tokens) and create a fine-grained one.",
			References:  []string{"https://huggingface.co/docs/hub/security-tokens"},
			Keywords:    []string{"hf_", "api_org_"},
			Pattern:     `\b(?P<secret>(?:hf_|api_org_)[A-Za-z]{34})\b`,
			MinEntropy:  3.8, Prefix: true, MaxLen: 48, Check: randomCase,
		},
		{
			ID: "cohere-api-key", Title: "Cohere API key", Severity: finding.Medium,
			Description: "A Cohere API key (40 characters) assigned to a key named for Cohere: it calls the models billed to the account.",
			Remediation: "Delete the key (Dashboard, API keys: https://dashboard.cohere.com/api-keys).",
			References:  []string{"https://docs.cohere.com/reference/about"},
			Keywords:    []string{"cohere"},
			Pattern:     `(?i)cohere[a-z0-9_.\-]*?(?:api)?[_.\-]?(?:key|token)` + assign + `(?P<secret>[A-Za-z0-9]{40})\b`,
			MinEntropy:  4.0,
		},
		{
			ID: "groq-api-key", Title: "Groq API key", Severity: finding.Medium,
			Description: "A Groq API key (gsk_…): it calls the models billed to the account.",
			Remediation: "Delete the key (https://console.groq.com/keys).",
			References:  []string{"https://console.groq.com/docs/quickstart"},
			Keywords:    []string{"gsk_"},
			Pattern:     `\b(?P<secret>gsk_[A-Za-z0-9]{52})\b`,
			MinEntropy:  4.0, Prefix: true, MaxLen: 64,
		},
	}
}

func registryRules() []*Rule {
	return []*Rule{
		{
			ID: "npm-access-token", Title: "npm access token", Severity: finding.High,
			Description: "An npm access token (npm_…, checksum verified): it installs private packages and, unless read-only, publishes new versions of the user's packages.",
			Remediation: "Revoke the token (npm token revoke, or Access Tokens on npmjs.com: https://docs.npmjs.com/revoking-access-tokens), check the packages' recent versions, and publish from CI with trusted publishing.",
			References:  []string{"https://github.blog/changelog/2021-09-23-npm-has-a-new-access-token-format/"},
			Keywords:    []string{"npm_"},
			Pattern:     `\b(?P<secret>npm_[A-Za-z0-9]{36})\b`,
			Prefix:      true, MaxLen: 48, Check: githubChecksum,
		},
		{
			ID: "pypi-token", Title: "PyPI API token", Severity: finding.High,
			Description: "A PyPI or TestPyPI API token (pypi-AgEIcHlwaS5vcmc…, a macaroon): it uploads new releases of the user's projects, or of one project.",
			Remediation: "Remove the token (Account settings, API tokens: https://pypi.org/manage/account/#api-tokens), check the projects' recent releases, and publish from CI with trusted publishing.",
			References:  []string{"https://pypi.org/help/#apitoken"},
			Keywords:    []string{"pypi-ageichlwas5vcmc", "pypi-agendgvzdc5wexbplm9yzw"},
			Pattern:     `(?P<secret>pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,400})` + endTok,
			MinEntropy:  4.0, Prefix: true, MaxLen: 440,
		},
		{
			ID: "rubygems-api-key", Title: "RubyGems API key", Severity: finding.High,
			Description: "A RubyGems.org API key (rubygems_…): it pushes and yanks versions of the user's gems within its scopes.",
			Remediation: "Delete the key (Settings, API keys: https://rubygems.org/profile/api_keys) and check the gems' recent versions.",
			References:  []string{"https://guides.rubygems.org/api-key-scopes/"},
			Keywords:    []string{"rubygems_"},
			Pattern:     `\b(?P<secret>rubygems_[0-9a-f]{48})\b`,
			MinEntropy:  3.2, Prefix: true, MaxLen: 64,
		},
		{
			ID: "nuget-api-key", Title: "NuGet API key", Severity: finding.High,
			Description: "A nuget.org API key (oy2 and 43 lower-case characters): it pushes and unlists the packages it is scoped to.",
			Remediation: "Delete or regenerate the key (nuget.org, API Keys: https://www.nuget.org/account/apikeys) and check the packages' recent versions.",
			References:  []string{"https://learn.microsoft.com/en-us/nuget/nuget-org/scoped-api-keys"},
			Keywords:    []string{"oy2"},
			Pattern:     `\b(?P<secret>oy2[a-z0-9]{43})\b`,
			MinEntropy:  3.8, Prefix: true, MaxLen: 50, Check: mixedAlnum,
		},
		{
			ID: "docker-hub-pat", Title: "Docker Hub personal access token", Severity: finding.High,
			Description: "A Docker Hub personal access token (dckr_pat_…): it pulls the user's private images and, with write scope, pushes over them.",
			Remediation: "Delete the token (Account settings, Personal access tokens: https://app.docker.com/settings/personal-access-tokens) and check the repositories' recent pushes.",
			References:  []string{"https://docs.docker.com/security/for-developers/access-tokens/"},
			Keywords:    []string{"dckr_pat_"},
			Pattern:     `\b(?P<secret>dckr_pat_[A-Za-z0-9_\-]{27,36})` + endTok,
			MinEntropy:  3.8, Prefix: true, MaxLen: 48,
		},
		{
			ID: "docker-hub-oat", Title: "Docker Hub organisation access token", Severity: finding.High,
			Description: "A Docker Hub organisation access token (dckr_oat_…): it pulls and pushes the organisation's repositories it was given.",
			Remediation: "Delete the token (Admin Console, Access tokens: https://docs.docker.com/security/for-admins/access-tokens/).",
			References:  []string{"https://docs.docker.com/security/for-admins/access-tokens/"},
			Keywords:    []string{"dckr_oat_"},
			Pattern:     `\b(?P<secret>dckr_oat_[A-Za-z0-9_\-]{32})` + endTok,
			MinEntropy:  3.8, Prefix: true, MaxLen: 48,
		},
	}
}

func keyRules() []*Rule {
	return []*Rule{
		{
			ID: "private-key", Title: "Private key", Severity: finding.Critical,
			Description: "A PEM-encoded private key (RSA, EC, DSA, PKCS#8, encrypted PKCS#8, OpenSSH), also inside a JSON or YAML string with \\n escapes. Whoever holds it can impersonate its owner or decrypt its traffic.",
			Remediation: "Revoke the key (certificate, SSH authorised keys, deploy keys), generate a new one where it is used, and keep it in a secret store.",
			References:  []string{"https://datatracker.ietf.org/doc/html/rfc7468"},
			Keywords:    []string{"private key-----"},
			Pattern:     `-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----(?:\\n|\\r\\n|[\r\n])(?:[A-Za-z0-9+/=:,\- \t]|\\n|\\r\\n|[\r\n]){64,}?-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----`,
			Multiline:   true, MaxLen: 16 << 10,
		},
		{
			ID: "pgp-private-key", Title: "PGP private key block", Severity: finding.Critical,
			Description: "An ASCII-armoured OpenPGP secret key (-----BEGIN PGP PRIVATE KEY BLOCK-----): it signs releases and commits and decrypts messages as its owner.",
			Remediation: "Revoke the key (gpg --gen-revoke, and publish the revocation certificate to the key servers and wherever the public key is trusted), then create a new key.",
			References:  []string{"https://www.rfc-editor.org/rfc/rfc9580#name-forming-ascii-armor"},
			Keywords:    []string{"pgp private key block-----"},
			Pattern:     `-----BEGIN PGP PRIVATE KEY BLOCK-----(?:\\n|\\r\\n|[\r\n])(?:[^-]|-[^-]){64,}?-----END PGP PRIVATE KEY BLOCK-----`,
			Multiline:   true, MaxLen: 64 << 10,
		},
		{
			ID: "putty-private-key", Title: "PuTTY private key", Severity: finding.Critical,
			Description: "A PuTTY private key file (PuTTY-User-Key-File-2 or -3): the SSH key of its owner, in clear unless the Encryption line names a cipher.",
			Remediation: "Remove the public key from every authorized_keys and forge account that trusts it, and generate a new key pair kept out of source.",
			References:  []string{"https://the.earth.li/~sgtatham/putty/latest/htmldoc/AppendixC.html"},
			Keywords:    []string{"putty-user-key-file-"},
			Pattern:     `PuTTY-User-Key-File-[23]: [^\r\n]+\r?\n(?s:.)*?Private-Lines: [0-9]+\r?\n(?P<secret>[A-Za-z0-9+/=\r\n]{16,}?)\r?\nPrivate-MAC: [0-9a-f]{40,64}`,
			Multiline:   true, MaxLen: 24 << 10,
		},
		{
			ID: "age-secret-key", Title: "age secret key", Severity: finding.Critical,
			Description: "An age encryption identity (AGE-SECRET-KEY-1…, Bech32 checksum verified): it decrypts every file encrypted to its recipient, such as SOPS-encrypted Kubernetes secrets.",
			Remediation: "Generate a new identity (age-keygen), re-encrypt the files to its recipient, remove the old recipient from .sops.yaml, and rotate the secrets it protected.",
			References:  []string{"https://age-encryption.org/v1"},
			Keywords:    []string{"age-secret-key-1"},
			Pattern:     `(?P<secret>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b`,
			Prefix:      true, MaxLen: 80, Check: ageSecretKey,
		},
	}
}

func configRules() []*Rule {
	return []*Rule{
		{
			ID: "kubeconfig-client-key", Title: "Kubernetes client key in a kubeconfig", Severity: finding.Critical,
			Description: "A kubeconfig's client-key-data: the base64 PEM private key (decoded and checked) that authenticates its user to the API server, often as cluster-admin.",
			Remediation: "Revoke the client certificate (rotate the cluster CA or, on managed clusters, the credentials), remove the kubeconfig from the repository, and use short-lived credentials (exec plugins, OIDC).",
			References:  []string{"https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/"},
			Keywords:    []string{"client-key-data"},
			Pattern:     `client-key-data["']?[ \t]*:[ \t]*["']?(?P<secret>[A-Za-z0-9+/]{64,}={0,2})`,
			Prefix:      true, MaxLen: 16 << 10, Check: base64PrivateKey,
		},
		{
			ID: "kubeconfig-user-token", Title: "Kubernetes bearer token in a kubeconfig", Severity: finding.High,
			Description: "A bearer token under a user of a kubeconfig's users: list (a service account JWT or a static token): it calls the API server as that user.",
			Remediation: "Revoke the token (delete the service account's token Secret or rotate the token file), remove the kubeconfig from the repository, and use short-lived credentials (kubectl create token, exec plugins).",
			References:  []string{"https://kubernetes.io/docs/reference/access-authn-authz/authentication/"},
			Keywords:    []string{"users:"},
			Pattern:     `(?m)^[ \t-]+user:[ \t]*\r?\n(?:[ \t]+[^\r\n]*\r?\n){0,16}?[ \t]+token:[ \t]*["']?(?P<secret>[A-Za-z0-9_\-.~+/]{20,}={0,2})["']?[ \t]*\r?$`,
			Multiline:   true, MaxLen: 32 << 10, MinEntropy: 3.5,
		},
		{
			ID: "npmrc-auth", Title: "Registry credential in an .npmrc", Severity: finding.High,
			Description: "An .npmrc _authToken, _auth or _password setting with a literal value: the credential of a package registry (npm tokens in the npm_ format get their own rule).",
			Remediation: "Revoke the token or change the password at the registry, and write the setting as _authToken=${NPM_TOKEN} so that the value comes from the environment.",
			References:  []string{"https://docs.npmjs.com/cli/v10/configuring-npm/npmrc#auth-related-configuration"},
			Keywords:    []string{"_authtoken", "_auth=", "_password="},
			Pattern:     `(?:^|[\s:])_(?:authToken|auth|password)[ \t]*=[ \t]*["']?(?P<secret>[A-Za-z0-9+/=._~\-:]{8,512})["']?[ \t]*\r?$`,
			MinEntropy:  3.0, Check: plainPassword,
		},
		{
			ID: "pypirc-password", Title: "Password in a .pypirc", Severity: finding.High,
			Description: "A password = line in a .pypirc package index section: the upload credential of a Python package index (PyPI tokens get their own rule).",
			Remediation: "Revoke the token or change the password at the index, delete the line, and let twine read TWINE_PASSWORD or a keyring instead.",
			References:  []string{"https://packaging.python.org/en/latest/specifications/pypirc/"},
			Keywords:    []string{"[pypi]", "[testpypi]", "index-servers"},
			Pattern:     `(?m)^password[ \t]*[=:][ \t]*(?P<secret>[^\s]{6,512})[ \t]*\r?$`,
			Multiline:   true, MaxLen: 4 << 10, Check: notWord,
		},
		{
			ID: "docker-config-auth", Title: "Registry credential in a Docker config.json", Severity: finding.High,
			Description: "An \"auth\" entry of a Docker or Podman config.json: base64 of user:password for a container registry (decoded and checked).",
			Remediation: "Revoke the token or change the password at the registry, remove the file from the repository or image, and use a credential helper (credsStore) instead.",
			References:  []string{"https://docs.docker.com/reference/cli/docker/login/#credential-stores"},
			Keywords:    []string{"\"auth\""},
			Pattern:     `"auth"[ \t]*:[ \t]*"(?P<secret>[A-Za-z0-9+/]{8,}={0,2})"`,
			Prefix:      true, MaxLen: 2100, Check: dockerAuth,
		},
		{
			ID: "netrc-password", Title: "Password in a .netrc", Severity: finding.High,
			Description: "A .netrc machine entry with a password: the credential curl, git and ftp send to that host.",
			Remediation: "Change the password or revoke the token at the host, remove the file from the repository or image, and use a credential helper instead.",
			References:  []string{"https://everything.curl.dev/usingcurl/netrc.html"},
			Keywords:    []string{"machine"},
			Pattern:     `(?m)^[ \t]*(?:machine[ \t]+[^\s]+|default)\s+(?:login[ \t]+[^\s]+\s+)?password[ \t]+(?P<secret>[^\s]{3,256})`,
			Multiline:   true, MaxLen: 512, Check: notWord,
		},
	}
}
