package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	base62     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	base32up   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	hexLower   = "0123456789abcdef"
	digits     = "0123456789"
	b64std     = base62 + "+/"
	b64url     = base62 + "-_"
	// pwChars are characters people put in passwords that need no
	// escaping in a URL's user info or a quoted string.
	pwChars = base62 + "!*-_.~"
)

func rs(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func b64raw(r *rand.Rand, n int) string {
	b := make([]byte, n)
	fill(r, b)
	return base64.StdEncoding.EncodeToString(b)
}

// password is a strong random password: mixed case, digits and a symbol,
// as a generator or a careful person makes.
func password(r *rand.Rand) string {
	return rs(r, upperAlnum[:26], 1) + rs(r, lowerAlnum[:26], 1) + rs(r, digits, 1) +
		rs(r, "!*-_.~", 1) + rs(r, pwChars, 14+r.IntN(12))
}

// jwt is a well-formed HS256 or RS256 token with a realistic payload.
func jwt(r *rand.Rand) string {
	enc := base64.RawURLEncoding.EncodeToString
	alg := pick(r, "HS256", "RS256")
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": rs(r, hexLower, 16)})
	iat := 1700000000 + r.IntN(40000000)
	payload, _ := json.Marshal(map[string]any{
		"sub": fmt.Sprintf("user-%d", r.IntN(1e6)), "iss": "https://auth." + pick(r, domains...),
		"aud": pick(r, svcNames...), "iat": iat, "exp": iat + 3600*(1+r.IntN(720)),
		"scope": pick(r, "read write", "admin", "orders:read orders:write", "openid profile email"),
		"jti":   uuid(r),
	})
	sig := make([]byte, 32)
	if alg == "RS256" {
		sig = make([]byte, 128)
	}
	fill(r, sig)
	return enc(hdr) + "." + enc(payload) + "." + enc(sig)
}

func uuid(r *rand.Rand) string {
	h := rs(r, hexLower, 32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + pick(r, "8", "9", "a", "b") + h[17:20] + "-" + h[20:]
}

// kindSpec is a kind of secret: how to make one and where it lives.
// Inline kinds go into files of the host languages; a kind with carry
// writes whole files of its own (a kubeconfig, an .npmrc).
type kindSpec struct {
	name  string
	hosts []lang
	names [][]string
	value func(r *rand.Rand) string
	// render writes the value with its context; nil means assign.
	render func(r *rand.Rand, s *sb, l lang, k *kindSpec, v string)
	// carry writes a whole file: its path under dir and its snippet;
	// carryShare is the share of plants written that way.
	carry      func(r *rand.Rand, k *kindSpec, v string) (name string, sn snippet)
	carryShare float64
}

var (
	codeHosts   = []lang{langGo, langPy, langJS, langTS, langJava}
	configHosts = []lang{langYAML, langJSON, langEnv, langK8s, langTF, langShell, langDocker}
	allHosts    = append(append([]lang{langMD, langLog}, codeHosts...), configHosts...)
	pemHosts    = []lang{langGo, langPy, langJS, langTS, langJava, langYAML, langK8s, langMD, langShell, langJSON, langEnv, langTF}
)

func w(s string) []string { return strings.Split(s, " ") }

func names(ss ...string) [][]string {
	out := make([][]string, len(ss))
	for i, s := range ss {
		out[i] = w(s)
	}
	return out
}

// kinds lists every kind of secret planted. Formats follow the providers'
// documented token shapes.
func kinds() []*kindSpec {
	gh := func(prefix string) func(r *rand.Rand) string {
		return func(r *rand.Rand) string { return prefix + rs(r, base62, 36) }
	}
	return []*kindSpec{
		{name: "aws-access-key", hosts: allHosts, value: func(r *rand.Rand) string { return "AKIA" + rs(r, base32up, 16) },
			render: renderAWS},
		{name: "github-pat", hosts: allHosts, names: names("github token", "gh token", "github access token"), value: gh("ghp_")},
		{name: "github-fine-grained-pat", hosts: allHosts, names: names("github token", "gh pat"),
			value: func(r *rand.Rand) string { return "github_pat_11" + rs(r, upperAlnum, 20) + "_" + rs(r, base62, 59) }},
		{name: "github-oauth", hosts: allHosts, names: names("github oauth token", "oauth token"), value: gh("gho_")},
		{name: "github-app-token", hosts: allHosts, names: names("installation token", "github app token"), value: gh("ghs_")},
		{name: "github-user-to-server", hosts: allHosts, names: names("github user token"), value: gh("ghu_")},
		{name: "gitlab-pat", hosts: allHosts, names: names("gitlab token", "ci job token", "gitlab private token"),
			value: func(r *rand.Rand) string { return "glpat-" + rs(r, b64url, 20) }},
		{name: "slack-bot-token", hosts: allHosts, names: names("slack bot token", "slack token"),
			value: func(r *rand.Rand) string {
				return "xoxb-" + rs(r, digits, 12) + "-" + rs(r, digits, 13) + "-" + rs(r, base62, 24)
			}},
		{name: "slack-user-token", hosts: allHosts, names: names("slack user token"),
			value: func(r *rand.Rand) string {
				return "xoxp-" + rs(r, digits, 12) + "-" + rs(r, digits, 12) + "-" + rs(r, digits, 13) + "-" + rs(r, hexLower, 32)
			}},
		{name: "slack-webhook", hosts: append([]lang{langBundle}, allHosts...), names: names("slack webhook url", "alert webhook"),
			value: func(r *rand.Rand) string {
				return "https://hooks.slack.com/services/T" + rs(r, upperAlnum, 10) + "/B" + rs(r, upperAlnum, 10) + "/" + rs(r, base62, 24)
			}},
		{name: "stripe-live-key", hosts: append([]lang{langBundle}, allHosts...), names: names("stripe secret key", "stripe api key"),
			value: func(r *rand.Rand) string { return "sk_live_" + rs(r, base62, 24+r.IntN(76)) }},
		{name: "stripe-restricted-key", hosts: allHosts, names: names("stripe restricted key"),
			value: func(r *rand.Rand) string { return "rk_live_" + rs(r, base62, 24+r.IntN(76)) }},
		{name: "twilio-api-key", hosts: allHosts, value: func(r *rand.Rand) string { return "SK" + rs(r, hexLower, 32) },
			render: renderTwilio},
		{name: "sendgrid-api-key", hosts: append([]lang{langBundle}, allHosts...), names: names("sendgrid api key", "mail api key"),
			value: func(r *rand.Rand) string { return "SG." + rs(r, b64url, 22) + "." + rs(r, b64url, 43) }},
		{name: "npm-token", hosts: allHosts, names: names("npm token", "npm publish token"),
			value: func(r *rand.Rand) string { return "npm_" + rs(r, base62, 36) }},
		{name: "pypi-token", hosts: allHosts, names: names("pypi token", "twine password"),
			value: func(r *rand.Rand) string { return "pypi-AgEIcHlwaS5vcmc" + rs(r, b64url, 120+r.IntN(80)) }},
		{name: "dockerhub-pat", hosts: allHosts, names: names("docker hub token", "dockerhub pat", "registry token"),
			value: func(r *rand.Rand) string { return "dckr_pat_" + rs(r, b64url, 27) }},
		{name: "vault-token", hosts: allHosts, names: names("vault token"),
			value: func(r *rand.Rand) string { return "hvs." + rs(r, base62, 90+r.IntN(10)) }},
		{name: "terraform-cloud-token", hosts: allHosts, names: names("tfe token", "atlas token"),
			value: func(r *rand.Rand) string { return rs(r, base62, 14) + ".atlasv1." + rs(r, b64url, 60+r.IntN(11)) }},
		{name: "openai-project-key", hosts: append([]lang{langBundle}, allHosts...), names: names("openai api key", "llm api key"),
			value: func(r *rand.Rand) string {
				return "sk-proj-" + rs(r, b64url, 74) + "T3BlbkFJ" + rs(r, b64url, 73) + rs(r, base62, 1)
			}},
		{name: "openai-legacy-key", hosts: allHosts, names: names("openai api key", "openai key"),
			value: func(r *rand.Rand) string { return "sk-" + rs(r, base62, 20) + "T3BlbkFJ" + rs(r, base62, 20) }},
		{name: "anthropic-api-key", hosts: allHosts, names: names("anthropic api key", "claude api key"),
			value: func(r *rand.Rand) string { return "sk-ant-api03-" + rs(r, b64url, 93) + "AA" }},
		{name: "gcp-api-key", hosts: append([]lang{langBundle}, allHosts...), names: names("google api key", "maps api key", "firebase api key"),
			value: func(r *rand.Rand) string { return "AIza" + rs(r, b64url, 35) }},
		{name: "gcp-service-account", value: pemPKCS8, carry: carryGCP, carryShare: 1},
		{name: "azure-storage-connection-string", hosts: allHosts, names: names("azure storage connection string", "storage connection"),
			value: func(r *rand.Rand) string {
				return "DefaultEndpointsProtocol=https;AccountName=" + pick(r, svcNames...) + "store" + rs(r, digits, 3) +
					";AccountKey=" + b64raw(r, 64) + ";EndpointSuffix=core.windows.net"
			}},
		{name: "private-key-rsa", hosts: pemHosts, names: names("tls private key", "signing key", "private key"), value: pemRSA,
			carry: carryPEM, carryShare: 0.5},
		{name: "private-key-ec", hosts: pemHosts, names: names("ec private key", "jwt signing key"), value: pemEC,
			carry: carryPEM, carryShare: 0.5},
		{name: "private-key-openssh", hosts: pemHosts, names: names("ssh private key", "deploy key"),
			value: func(r *rand.Rand) string { return pemOpenSSH(r, pick(r, "deploy@ci", "git@bastion", "ops@jump")) },
			carry: carryPEM, carryShare: 0.5},
		{name: "private-key-pkcs8", hosts: pemHosts, names: names("service private key", "private key pem"), value: pemPKCS8,
			carry: carryPEM, carryShare: 0.5},
		{name: "pgp-private-key", hosts: pemHosts, names: names("gpg private key", "release signing key"), value: pemPGP,
			carry: carryPEM, carryShare: 0.5},
		{name: "jwt", hosts: append([]lang{langBundle}, allHosts...), names: names("auth token", "bearer token", "access token", "service token"),
			value: jwt},
		{name: "url-password-postgres", hosts: allHosts, names: names("database url", "postgres dsn", "db url"),
			value: func(r *rand.Rand) string {
				return pick(r, "postgres", "postgresql") + "://" + pick(r, "app", "svc", "admin", "orders") + ":" + password(r) +
					"@" + pick(r, "db", "pg-primary", "postgres.internal") + ":5432/" + pick(r, svcNames...)
			}},
		{name: "url-password-https", hosts: allHosts, names: names("registry url", "artifact repo url", "proxy url"),
			value: func(r *rand.Rand) string {
				return "https://" + pick(r, "deploy", "ci", "jenkins", "robot") + ":" + password(r) + "@" +
					pick(r, "nexus.", "artifacts.", "git.", "proxy.") + pick(r, domains...) + "/" + pick(r, "repository/maven", "api/v4", "")
			}},
		{name: "db-connection-string", hosts: allHosts, names: names("connection string", "mssql connection", "sql server dsn"),
			value: func(r *rand.Rand) string {
				return "Server=" + pick(r, "sql01", "mssql", "db") + "." + pick(r, domains...) + ",1433;Database=" + pick(r, svcNames...) +
					";User Id=" + pick(r, "sa", "app_user", "reporting") + ";Password=" + password(r) + ";Encrypt=true;"
			}},
		{name: "kubeconfig", value: jwt, carry: carryKubeconfig, carryShare: 1},
		{name: "npmrc-auth-token", value: func(r *rand.Rand) string { return "npm_" + rs(r, base62, 36) }, carry: carryNpmrc, carryShare: 1},
		{name: "pypirc-password", value: password, carry: carryPypirc, carryShare: 1},
		{name: "docker-config-auth", value: func(r *rand.Rand) string { return b64(pick(r, "ci-bot", "deployer", "robot$push") + ":" + password(r)) },
			carry: carryDockerConfig, carryShare: 1},
		{name: "k8s-secret-stringdata", hosts: []lang{langK8s}, value: password, render: renderK8sSecret},
		{name: "k8s-secret-data", hosts: []lang{langK8s}, value: func(r *rand.Rand) string { return b64(password(r)) }, render: renderK8sSecret},
		{name: "k8s-deployment-env", hosts: []lang{langK8s}, value: password, render: renderDeploymentEnv},
		{name: "generic-password", hosts: append(codeHosts, langYAML, langEnv, langTF, langShell, langJSON), value: password,
			names: names("db password", "database password", "redis password", "smtp password", "admin password")},
		{name: "generic-api-secret", hosts: append(codeHosts, langYAML, langEnv, langJSON, langDocker), value: func(r *rand.Rand) string { return rs(r, base62, 32+r.IntN(16)) },
			names: names("api secret", "webhook secret", "signing secret", "app secret")},
		{name: "generic-client-secret", hosts: append(codeHosts, langYAML, langEnv, langJSON, langShell), value: func(r *rand.Rand) string { return rs(r, b64url, 40) },
			names: names("client secret", "oauth client secret", "oidc client secret")},
	}
}

func renderAWS(r *rand.Rand, s *sb, l lang, k *kindSpec, v string) {
	sec := rs(r, b64std, 40)
	if l == langTF {
		s.lit("provider \"aws\" {\n  region     = \"" + pick(r, "us-east-1", "eu-west-1") + "\"\n  access_key = \"")
		i := s.val(k.name, v, v, false)
		s.lit("\"\n  secret_key = \"" + sec + "\"\n}\n\n")
		s.extend(i)
		return
	}
	if l == langK8s {
		pairK8s(r, s, k.name, "AWS_ACCESS_KEY_ID", v, "AWS_SECRET_ACCESS_KEY", sec)
		return
	}
	i := assign(r, s, l, w("aws access key id"), k.name, v, false)
	if l == langBundle {
		s.lit(",awsSecretAccessKey:\"" + sec + "\"")
	} else {
		assignPlain(r, s, l, w("aws secret access key"), sec)
	}
	s.extend(i)
}

func renderTwilio(r *rand.Rand, s *sb, l lang, k *kindSpec, v string) {
	sid := "AC" + rs(r, hexLower, 32)
	if l == langK8s {
		pairK8s(r, s, k.name, "TWILIO_API_KEY", v, "TWILIO_ACCOUNT_SID", sid)
		return
	}
	i := assign(r, s, l, w("twilio api key"), k.name, v, false)
	if l == langBundle {
		s.lit(",twilioAccountSid:\"" + sid + "\"")
	} else {
		assignPlain(r, s, l, w("twilio account sid"), sid)
	}
	s.extend(i)
}

// pairK8s writes a two-part credential into a Secret's stringData.
func pairK8s(r *rand.Rand, s *sb, kind, k1, v1, k2, v2 string) {
	start := s.lines
	s.lit("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: " + pick(r, svcNames...) + "-" + pick(r, "aws", "twilio", "provider") +
		"\n  namespace: " + pick(r, namespaces...) + "\ntype: Opaque\nstringData:\n  " + k1 + ": \"")
	i := s.val(kind, v1, v1, false)
	s.marks[i].start = start
	s.lit("\"\n  " + k2 + ": \"" + v2 + "\"\n")
	s.extend(i)
}

// assignPlain writes the second half of a pair; it is not recorded on its
// own, the first half's span covers it.
func assignPlain(r *rand.Rand, s *sb, l lang, words []string, v string) {
	var t sb
	assign(r, &t, l, words, "", v, true)
	s.lit(t.b.String())
}

// A Secret manifest is the credential's context: a finding on any of its
// lines (the kind, the key) finds it.
func renderK8sSecret(r *rand.Rand, s *sb, l lang, k *kindSpec, v string) {
	start := s.lines
	app := pick(r, svcNames...)
	s.lit("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: " + app + "-credentials\n  namespace: " + pick(r, namespaces...) +
		"\n  labels:\n    app.kubernetes.io/name: " + app + "\ntype: Opaque\n")
	key := pick(r, "password", "db-password", "api-key", "token", "client-secret")
	if k.name == "k8s-secret-data" {
		s.lit("data:\n  username: " + b64(pick(r, "app", "svc", "admin")) + "\n  " + key + ": ")
	} else {
		s.lit("stringData:\n  username: " + pick(r, "app", "svc", "admin") + "\n  " + key + ": \"")
	}
	i := s.val(k.name, v, v, false)
	s.marks[i].start = start
	if k.name == "k8s-secret-data" {
		s.lit("\n")
	} else {
		s.lit("\"\n")
	}
}

func renderDeploymentEnv(r *rand.Rand, s *sb, l lang, k *kindSpec, v string) {
	app := pick(r, svcNames...)
	s.lit("---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + app + "\n  namespace: " + pick(r, namespaces...) +
		"\nspec:\n  replicas: " + fmt.Sprint(1+r.IntN(5)) + "\n  selector:\n    matchLabels:\n      app: " + app +
		"\n  template:\n    metadata:\n      labels:\n        app: " + app + "\n    spec:\n      containers:\n        - name: " + app +
		"\n          image: registry." + pick(r, domains...) + "/" + app + ":" + fmt.Sprintf("1.%d.%d", r.IntN(20), r.IntN(10)) +
		"\n          env:\n            - name: LOG_LEVEL\n              value: info\n")
	start := s.lines
	s.lit("            - name: " + pick(r, "DB_PASSWORD", "REDIS_PASSWORD", "API_SECRET", "SMTP_PASSWORD") + "\n              value: \"")
	i := s.val(k.name, v, v, false)
	s.marks[i].start = start
	s.lit("\"\n          ports:\n            - containerPort: 8080\n")
}

func carryPEM(r *rand.Rand, k *kindSpec, v string) (string, snippet) {
	var s sb
	s.val(k.name, v, v, false)
	var name string
	switch k.name {
	case "private-key-openssh":
		name = pick(r, "id_ed25519", "deploy_key", "ci/id_ed25519")
	case "pgp-private-key":
		name = pick(r, "release-signing.asc", "gpg/private.asc", "packaging/signing-key.asc")
	default:
		name = pick(r, "tls.key", "server.key", "certs/private.pem", "keys/service.pem", "secrets/signing.key")
	}
	return name, s.snippet()
}

func carryGCP(r *rand.Rand, k *kindSpec, v string) (string, snippet) {
	project := pick(r, svcNames...) + "-" + pick(r, "prod", "staging", "dev") + "-" + rs(r, digits, 6)
	sa := pick(r, "deployer", "ci", "terraform", "backup") + "@" + project + ".iam.gserviceaccount.com"
	var s sb
	s.lit("{\n  \"type\": \"service_account\",\n  \"project_id\": \"" + project + "\",\n  \"private_key_id\": \"" + rs(r, hexLower, 40) +
		"\",\n  \"private_key\": \"")
	i := s.val(k.name, v, escapeNL(v), false)
	s.marks[i].start = 0
	s.lit("\",\n  \"client_email\": \"" + sa + "\",\n  \"client_id\": \"1" + rs(r, digits, 20) +
		"\",\n  \"auth_uri\": \"https://accounts.google.com/o/oauth2/auth\",\n  \"token_uri\": \"https://oauth2.googleapis.com/token\"," +
		"\n  \"auth_provider_x509_cert_url\": \"https://www.googleapis.com/oauth2/v1/certs\"," +
		"\n  \"client_x509_cert_url\": \"https://www.googleapis.com/robot/v1/metadata/x509/" + strings.ReplaceAll(sa, "@", "%40") +
		"\",\n  \"universe_domain\": \"googleapis.com\"\n}\n")
	s.extend(i)
	return pick(r, "gcp-sa.json", "credentials/service-account.json", "secrets/"+project+".json"), s.snippet()
}

// carryKubeconfig writes a kubeconfig holding two secrets: a client key
// (client-key-data) for one user and a bearer token for another. The
// certificate data beside them is public and must not be reported.
func carryKubeconfig(r *rand.Rand, k *kindSpec, v string) (string, snippet) {
	cluster := pick(r, "prod", "staging", "dev") + "-" + pick(r, "eu", "us", "ap") + fmt.Sprint(1+r.IntN(3))
	ca := b64(certPEM(r, "kubernetes-ca"))
	cert := b64(certPEM(r, "admin"))
	key := b64(pemRSA(r))
	var s sb
	s.lit("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: ")
	s.val("certificate-data", ca, ca, true)
	s.lit("\n    server: https://" + cluster + ".k8s." + pick(r, domains...) + ":6443\n  name: " + cluster +
		"\ncontexts:\n- context:\n    cluster: " + cluster + "\n    user: admin\n  name: admin@" + cluster +
		"\n- context:\n    cluster: " + cluster + "\n    user: ci\n  name: ci@" + cluster +
		"\ncurrent-context: admin@" + cluster + "\nkind: Config\npreferences: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: ")
	s.val("certificate-data", cert, cert, true)
	s.lit("\n    client-key-data: ")
	s.val("kubeconfig-client-key", key, key, false)
	s.lit("\n- name: ci\n  user:\n    token: ")
	s.val("kubeconfig-token", v, v, false)
	s.lit("\n")
	return pick(r, "kubeconfig", ".kube/config", "kubeconfig-"+cluster+".yaml"), s.snippet()
}

func carryNpmrc(r *rand.Rand, k *kindSpec, v string) (string, snippet) {
	var s sb
	s.lit("registry=https://registry.npmjs.org/\n@" + pick(r, "acme", "internal", "platform") + ":registry=https://npm.pkg." +
		pick(r, domains...) + "/\nsave-exact=true\nfund=false\n//registry.npmjs.org/:_authToken=")
	s.val(k.name, v, v, false)
	s.lit("\n")
	return ".npmrc", s.snippet()
}

func carryPypirc(r *rand.Rand, k *kindSpec, v string) (string, snippet) {
	var s sb
	s.lit("[distutils]\nindex-servers =\n    pypi\n    internal\n\n[pypi]\nusername = __token__\npassword = ")
	s.val("placeholder-env-template", "${PYPI_TOKEN}", "${PYPI_TOKEN}", true)
	s.lit("\n\n[internal]\nrepository = https://pypi." + pick(r, domains...) + "/simple/\nusername = " + pick(r, "release", "ci", "publisher") + "\npassword = ")
	s.val(k.name, v, v, false)
	s.lit("\n")
	return ".pypirc", s.snippet()
}

func carryDockerConfig(r *rand.Rand, k *kindSpec, v string) (string, snippet) {
	var s sb
	s.lit("{\n  \"auths\": {\n    \"" + pick(r, "https://index.docker.io/v1/", "ghcr.io", "registry."+pick(r, domains...)) +
		"\": {\n      \"auth\": \"")
	s.val(k.name, v, v, false)
	s.lit("\"\n    }\n  },\n  \"credsStore\": \"\",\n  \"currentContext\": \"default\"\n}\n")
	return ".docker/config.json", s.snippet()
}
