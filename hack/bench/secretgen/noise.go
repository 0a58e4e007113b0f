package main

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
)

var (
	svcNames   = []string{"orders", "billing", "payments", "inventory", "catalog", "checkout", "accounts", "auth", "search", "notifications", "shipping", "reporting", "gateway", "ledger", "pricing", "reviews", "media", "analytics", "scheduler", "webhooks"}
	namespaces = []string{"default", "prod", "staging", "platform", "payments", "data", "monitoring"}
	domains    = []string{"acme.internal", "example-corp.io", "shopfront.dev", "corp.acme.net"}
	words      = []string{"order", "item", "cart", "price", "user", "account", "session", "event", "queue", "cache", "store", "client", "handler", "request", "response", "config", "metric", "invoice", "ledger", "batch", "record", "report", "status", "schema", "message", "payload", "retry", "limit", "window", "shard", "region", "tenant", "policy", "route", "filter", "index", "cursor", "page", "token_bucket", "backoff"}
	verbs      = []string{"get", "set", "load", "save", "parse", "build", "validate", "handle", "process", "fetch", "update", "delete", "create", "list", "apply", "render", "encode", "decode", "merge", "resolve"}
	logMsgs    = []string{"request completed", "cache miss", "retrying upstream call", "job finished", "connection pool stats", "message published", "payment captured", "order state changed", "rate limit applied", "health check ok"}
)

func word(r *rand.Rand) string { return strings.ReplaceAll(pick(r, words...), "_", "") }

func ident(r *rand.Rand) string {
	return pick(r, verbs...) + title(word(r))
}

func typeName(r *rand.Rand) string {
	return title(word(r)) + title(word(r))
}

func sha256hex(r *rand.Rand) string {
	b := make([]byte, 16)
	fill(r, b)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sha1hex(r *rand.Rand) string {
	b := make([]byte, 16)
	fill(r, b)
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func sha512integrity(r *rand.Rand) string {
	b := make([]byte, 16)
	fill(r, b)
	s := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
}

// dataURI is an inline image: a PNG header over random bytes.
func dataURI(r *rand.Rand, n int) string {
	b := make([]byte, n)
	fill(r, b)
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b)
}

func cssHash(r *rand.Rand) string { return "css-" + rs(r, lowerAlnum, 7) }

func logPrefix(r *rand.Rand, level string) string {
	return fmt.Sprintf("2025-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s [%s]", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000), level, pick(r, svcNames...))
}

// stmt is a line of ordinary code; now and then it carries noise: a hash,
// a UUID, a commit, a call that reads a secret from the environment.
func stmt(r *rand.Rand, l lang) string {
	id, x := ident(r), word(r)
	switch r.IntN(14) {
	case 0:
		return fmt.Sprintf("// checksum of the %s fixture: sha256:%s", x, sha256hex(r))
	case 1:
		return fmt.Sprintf("%s := %q // request %s", "traceID", uuid(r), x)
	case 2:
		return fmt.Sprintf("// introduced in commit %s", sha1hex(r))
	}
	switch l {
	case langGo:
		return pick(r, fmt.Sprintf("if err := %s(ctx, %s); err != nil {\n\t\treturn fmt.Errorf(\"%s: %%w\", err)\n\t}", id, x, id),
			fmt.Sprintf("%s, err := s.%s(ctx, req.%sID)", x, id, typeName(r)),
			fmt.Sprintf("for i := range %ss {\n\t\t%ss[i].%s = %d\n\t}", x, x, typeName(r), r.IntN(100)),
			fmt.Sprintf("log.Info(\"%s\", \"%s\", %s, \"elapsed\", time.Since(start))", pick(r, logMsgs...), x, x))
	case langPy:
		return pick(r, fmt.Sprintf("%s = self.%s(%s_id)", x, id, word(r)),
			fmt.Sprintf("if not %s:\n        raise ValueError(\"missing %s\")", x, x),
			fmt.Sprintf("logger.info(\"%s\", extra={\"%s\": %s})", pick(r, logMsgs...), x, x),
			fmt.Sprintf("for %s in %ss:\n        total += %s.%s", x, x, x, word(r)))
	case langJS, langTS:
		return pick(r, fmt.Sprintf("const %s = await %s(%s.id);", x, id, word(r)),
			fmt.Sprintf("if (!%s) throw new Error('missing %s');", x, x),
			fmt.Sprintf("logger.info('%s', { %s });", pick(r, logMsgs...), x),
			fmt.Sprintf("return %ss.filter((it) => it.%s > %d);", x, word(r), r.IntN(100)))
	default: // Java
		return pick(r, fmt.Sprintf("var %s = repository.%s(%sId);", x, id, word(r)),
			fmt.Sprintf("if (%s == null) {\n            throw new IllegalArgumentException(\"missing %s\");\n        }", x, x),
			fmt.Sprintf("log.info(\"%s {}\", %s);", pick(r, logMsgs...), x))
	}
}

func stmts(r *rand.Rand, l lang, ind string, n int) string {
	var b strings.Builder
	for range n {
		s := stmt(r, l)
		if strings.HasPrefix(s, "traceID") {
			switch l {
			case langPy:
				s = strings.Replace(s, ":=", "=", 1)
				s = strings.Replace(s, "//", "#", 1)
			case langJS, langTS:
				s = "const " + strings.Replace(s, ":=", "=", 1)
			case langJava:
				s = "var " + strings.Replace(s, ":=", "=", 1)
			}
		} else if l == langPy && strings.HasPrefix(s, "//") {
			s = "#" + s[2:]
		}
		b.WriteString(ind + s + "\n")
	}
	return b.String()
}

// filler says how to write a file of one language: a header, chunks that
// each end where a top-level statement may follow, and a footer.
type filler struct {
	header, footer string
	chunk          func() string
}

func newFiller(r *rand.Rand, l lang, path string) filler {
	switch l {
	case langGo:
		pkg := word(r)
		return filler{
			header: fmt.Sprintf("// Package %s handles %ss for the %s service.\npackage %s\n\nimport (\n\t\"context\"\n\t\"fmt\"\n\t\"log/slog\"\n\t\"time\"\n)\n\n", pkg, word(r), pick(r, svcNames...), pkg),
			chunk: func() string {
				return fmt.Sprintf("// %s %ss the %s.\nfunc (s *Service) %s(ctx context.Context, req *%sRequest) (*%s, error) {\n\tstart := time.Now()\n%s\treturn nil, nil\n}\n\n",
					ident(r), pick(r, verbs...), word(r), title(ident(r)), typeName(r), typeName(r), stmts(r, langGo, "\t", 3+r.IntN(20)))
			},
		}
	case langPy:
		return filler{
			header: fmt.Sprintf("\"\"\"%s %s helpers.\"\"\"\nimport logging\nimport os\nfrom dataclasses import dataclass\n\nlogger = logging.getLogger(__name__)\n\n", title(pick(r, svcNames...)), word(r)),
			chunk: func() string {
				return fmt.Sprintf("\ndef %s_%s(self, %s_id, *, timeout=%d):\n    \"\"\"%s a %s.\"\"\"\n%s    return None\n\n", pick(r, verbs...), word(r), word(r), 1+r.IntN(30), title(pick(r, verbs...)), word(r), stmts(r, langPy, "    ", 3+r.IntN(18)))
			},
		}
	case langJS, langTS:
		hdr := fmt.Sprintf("import { logger } from '../lib/logger';\nimport { %s } from './%s';\n\n", ident(r), word(r))
		return filler{
			header: hdr,
			chunk: func() string {
				if l == langTS && r.IntN(3) == 0 {
					return fmt.Sprintf("export function %s({ %s }: %sProps) {\n  return (\n    <div className=\"%s %s\" data-testid=\"%s\">\n      {%s.%s}\n    </div>\n  );\n}\n\n",
						typeName(r), word(r), typeName(r), cssHash(r), cssHash(r), word(r), word(r), word(r))
				}
				return fmt.Sprintf("export async function %s(%s, options = {}) {\n%s  return null;\n}\n\n", ident(r), word(r), stmts(r, l, "  ", 3+r.IntN(16)))
			},
		}
	case langJava:
		cls := strings.TrimSuffix(path[strings.LastIndexByte(path, '/')+1:], ".java")
		return filler{
			header: fmt.Sprintf("package com.acme.%s.%s;\n\nimport java.util.List;\nimport java.util.Optional;\nimport org.slf4j.Logger;\nimport org.slf4j.LoggerFactory;\n\npublic class %s {\n    private static final Logger log = LoggerFactory.getLogger(%s.class);\n\n", pick(r, svcNames...), word(r), cls, cls),
			chunk: func() string {
				return fmt.Sprintf("    public Optional<%s> %s(long %sId) {\n%s        return Optional.empty();\n    }\n\n", typeName(r), ident(r), word(r), stmts(r, langJava, "        ", 3+r.IntN(16)))
			},
			footer: "}\n",
		}
	case langYAML:
		return filler{
			header: "# " + pick(r, svcNames...) + " configuration\n",
			chunk: func() string {
				return fmt.Sprintf("%s:\n  enabled: %v\n  timeout: %ds\n  endpoint: https://%s.%s/v%d\n  retries: %d\n  build_sha: %s\n  labels:\n    team: %s\n    tier: %s\n",
					word(r)+"_"+word(r), r.IntN(2) == 0, 1+r.IntN(60), pick(r, svcNames...), pick(r, domains...), 1+r.IntN(3), r.IntN(9), sha1hex(r), pick(r, svcNames...), pick(r, "backend", "frontend", "data"))
			},
		}
	case langJSON:
		return filler{
			header: "{\n",
			chunk: func() string {
				return fmt.Sprintf("  \"%s\": {\n    \"enabled\": %v,\n    \"maxItems\": %d,\n    \"endpoint\": \"https://%s.%s/api\",\n    \"requestId\": \"%s\",\n    \"digest\": \"sha256:%s\"\n  },\n",
					ident(r), r.IntN(2) == 0, r.IntN(5000), pick(r, svcNames...), pick(r, domains...), uuid(r), sha256hex(r))
			},
			footer: fmt.Sprintf("  \"version\": \"%d.%d.%d\"\n}\n", r.IntN(5), r.IntN(30), r.IntN(10)),
		}
	case langK8s:
		return filler{chunk: func() string { return k8sDoc(r) }}
	case langTF:
		return filler{
			chunk: func() string {
				return fmt.Sprintf("resource \"aws_s3_bucket\" \"%s\" {\n  bucket = \"%s-%s-%s\"\n  tags = {\n    Team      = \"%s\"\n    CommitSha = \"%s\"\n  }\n}\n\nvariable \"%s\" {\n  type    = string\n  default = \"%s\"\n}\n\n",
					word(r), pick(r, svcNames...), word(r), rs(r, lowerAlnum, 6), pick(r, svcNames...), sha1hex(r), word(r)+"_name", word(r))
			},
		}
	case langEnv:
		return filler{
			header: "# local settings for " + pick(r, svcNames...) + "\n",
			chunk: func() string {
				return fmt.Sprintf("PORT=%d\nLOG_LEVEL=%s\nFEATURE_%s=%v\nUPSTREAM_URL=http://%s:8080\n", 3000+r.IntN(6000), pick(r, "debug", "info", "warn"), strings.ToUpper(word(r)), r.IntN(2) == 0, pick(r, svcNames...))
			},
		}
	case langDocker:
		return filler{
			header: fmt.Sprintf("FROM golang:1.%d@sha256:%s AS build\nWORKDIR /src\nCOPY go.mod go.sum ./\nRUN go mod download\n", 21+r.IntN(4), sha256hex(r)),
			chunk: func() string {
				return pick(r, "COPY . .\nRUN CGO_ENABLED=0 go build -o /out/app ./cmd/app\n", "RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*\n",
					fmt.Sprintf("ENV PORT=%d\nEXPOSE %d\n", 8000+r.IntN(100), 8000+r.IntN(100)), fmt.Sprintf("LABEL org.opencontainers.image.revision=%s\n", sha1hex(r)))
			},
			footer: "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY --from=build /out/app /app\nUSER nonroot\nENTRYPOINT [\"/app\"]\n",
		}
	case langShell:
		return filler{
			header: "#!/usr/bin/env bash\nset -euo pipefail\n\n",
			chunk: func() string {
				return fmt.Sprintf("%s() {\n  local %s=\"$1\"\n  echo \"%s ${%s}\"\n  curl -fsS -H \"X-Request-Id: %s\" \"https://%s.%s/%s\" >/dev/null\n}\n\n",
					strings.ReplaceAll(ident(r), "-", "_"), word(r), pick(r, logMsgs...), word(r), uuid(r), pick(r, svcNames...), pick(r, domains...), word(r))
			},
		}
	case langMD:
		return filler{
			header: "# " + title(pick(r, svcNames...)) + " " + word(r) + "s\n\n",
			chunk: func() string {
				switch r.IntN(4) {
				case 0:
					return fmt.Sprintf("## %s\n\nThe %s service %ss each %s and retries on failure. Release %d.%d (commit %s) changed the %s window.\n\n", title(word(r)), pick(r, svcNames...), pick(r, verbs...), word(r), r.IntN(5), r.IntN(20), sha1hex(r)[:12], word(r))
				case 1:
					return fmt.Sprintf("```sh\ncurl -H 'Accept: application/json' https://%s.%s/v1/%ss/%s\n```\n\n", pick(r, svcNames...), pick(r, domains...), word(r), uuid(r))
				case 2:
					return fmt.Sprintf("| field | type | notes |\n|---|---|---|\n| %s | string | sha256 of the %s |\n| %s | uuid | e.g. `%s` |\n\n", word(r), word(r), word(r), uuid(r))
				default:
					return fmt.Sprintf("![diagram](%s)\n\n", dataURI(r, 200+r.IntN(600)))
				}
			},
		}
	case langLog:
		return filler{chunk: func() string {
			return fmt.Sprintf("%s %s request_id=%s trace_id=%s method=%s path=/api/v1/%ss/%d status=%d duration_ms=%d\n",
				logPrefix(r, pick(r, "INFO", "INFO", "INFO", "WARN", "DEBUG")), pick(r, logMsgs...), uuid(r), rs(r, hexLower, 32), pick(r, "GET", "POST", "PUT"), word(r), r.IntN(1e6), pick(r, 200, 200, 201, 404, 500), r.IntN(900))
		}}
	case langCSV:
		return filler{
			header: "id,external_id,checksum,created_at,email,amount_cents,status\n",
			chunk: func() string {
				return fmt.Sprintf("%d,%s,%s,2025-%02d-%02dT%02d:%02d:00Z,%s%d@example.com,%d,%s\n", r.IntN(1e8), uuid(r), sha256hex(r), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), word(r), r.IntN(1e4), r.IntN(1e6), pick(r, "paid", "refunded", "pending"))
			},
		}
	case langBundle:
		lineLen, lim := 0, 50_000+r.IntN(450_000)
		return filler{
			header: "/*! For license information please see main.js.LICENSE.txt */\n",
			chunk: func() string {
				var s string
				switch r.IntN(6) {
				case 0:
					s = fmt.Sprintf("%d:function(e,t,n){\"use strict\";n.d(t,{Z:function(){return %s}});var r=n(%d),o=n.n(r);const i={%s:\"%s\",%s:\"%s\"};function %s(e){return o().createElement(\"div\",{className:i.%s},e.children)}}",
						r.IntN(99999), rs(r, "abcdefghij", 2), r.IntN(99999), word(r), cssHash(r), word(r), cssHash(r), rs(r, "abcdefghij", 2), word(r))
				case 1:
					s = fmt.Sprintf("n.e(%d).then(n.bind(n,%d)),{\"chunk-%s\":\"%s\",\"chunk-%s\":\"%s\"}", r.IntN(999), r.IntN(99999), rs(r, hexLower, 8), rs(r, hexLower, 20), rs(r, hexLower, 8), rs(r, hexLower, 20))
				case 2:
					s = fmt.Sprintf("var %s=\"%s\"", rs(r, "abcdefghijklmnop", 2), dataURI(r, 300+r.IntN(3000)))
				case 3:
					s = fmt.Sprintf("{integrity:\"%s\",hash:\"%s\",id:\"%s\"}", sha512integrity(r), sha256hex(r), uuid(r))
				default:
					s = fmt.Sprintf("function %s(e,t){if(!e)throw new Error(\"%s\");for(var n=0;n<e.length;n++)t(e[n],n);return e.map(function(e){return e.%s})}", rs(r, "abcdefghij", 2), pick(r, logMsgs...), word(r))
				}
				s += ";"
				lineLen += len(s)
				if lineLen > lim {
					lineLen = 0
					s += "\n"
				}
				return s
			},
			footer: "\n//# sourceMappingURL=main.js.map\n",
		}
	case langLock:
		return filler{
			header: fmt.Sprintf("{\n  \"name\": \"%s\",\n  \"version\": \"1.0.0\",\n  \"lockfileVersion\": 3,\n  \"requires\": true,\n  \"packages\": {\n", pick(r, svcNames...)+"-web"),
			chunk: func() string {
				n := word(r) + "-" + word(r)
				return fmt.Sprintf("    \"node_modules/%s\": {\n      \"version\": \"%d.%d.%d\",\n      \"resolved\": \"https://registry.npmjs.org/%s/-/%s-%d.%d.%d.tgz\",\n      \"integrity\": \"%s\",\n      \"dev\": %v\n    },\n",
					n, r.IntN(9), r.IntN(30), r.IntN(20), n, n, r.IntN(9), r.IntN(30), r.IntN(20), sha512integrity(r), r.IntN(2) == 0)
			},
			footer: fmt.Sprintf("    \"node_modules/zod\": {\n      \"version\": \"3.23.8\",\n      \"integrity\": \"%s\"\n    }\n  }\n}\n", sha512integrity(r)),
		}
	case langIgnore:
		return filler{header: "# build output\n/bin/\n/dist/\ncoverage/\n*.pyc\n__pycache__/\n.idea/\n.vscode/\n*.swp\n.DS_Store\n"}
	}
	panic(fmt.Sprintf("no filler for lang %d", l))
}

func k8sDoc(r *rand.Rand) string {
	app := pick(r, svcNames...)
	ns := pick(r, namespaces...)
	switch r.IntN(3) {
	case 0:
		return fmt.Sprintf("---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  namespace: %s\n  annotations:\n    checksum/config: %s\nspec:\n  replicas: %d\n  selector:\n    matchLabels:\n      app: %s\n  template:\n    metadata:\n      labels:\n        app: %s\n    spec:\n      containers:\n        - name: %s\n          image: registry.%s/%s@sha256:%s\n          env:\n            - name: LOG_LEVEL\n              value: info\n            - name: DB_PASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: %s-db\n                  key: password\n          resources:\n            limits:\n              memory: %dMi\n",
			app, ns, sha256hex(r), 1+r.IntN(6), app, app, app, pick(r, domains...), app, sha256hex(r), app, 128*(1+r.IntN(8)))
	case 1:
		return fmt.Sprintf("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n  selector:\n    app: %s\n  ports:\n    - port: 80\n      targetPort: %d\n", app, ns, app, 8000+r.IntN(100))
	default:
		return fmt.Sprintf("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-settings\n  namespace: %s\ndata:\n  GIT_COMMIT: %q\n  BUILD_ID: %q\n  UPSTREAM: http://%s.%s.svc:8080\n", app, ns, sha1hex(r), uuid(r), pick(r, svcNames...), ns)
	}
}

// decoySpec is something a scanner must not report: a placeholder, an
// environment reference, or a random-looking value that is not a secret.
type decoySpec struct {
	class  string
	hosts  []lang
	render func(r *rand.Rand, s *sb, l lang, d *decoySpec)
}

const (
	jwtIOSample   = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	stripeDocsKey = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
	pemDots       = "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n"
)

func fixed(nameChoices [][]string, value func(r *rand.Rand) string) func(r *rand.Rand, s *sb, l lang, d *decoySpec) {
	return func(r *rand.Rand, s *sb, l lang, d *decoySpec) {
		assign(r, s, l, pick(r, nameChoices...), d.class, value(r), true)
	}
}

func constant(v string) func(*rand.Rand) string { return func(*rand.Rand) string { return v } }

func decoys() []*decoySpec {
	text := []lang{langGo, langPy, langJS, langTS, langJava, langYAML, langJSON, langK8s, langTF, langEnv, langDocker, langShell, langMD}
	code := []lang{langGo, langPy, langJS, langTS, langJava}
	return []*decoySpec{
		{class: "placeholder-aws-x", hosts: text, render: fixed(names("aws access key id"), constant("AKIAXXXXXXXXXXXXXXXX"))},
		{class: "placeholder-aws-example", hosts: text, render: func(r *rand.Rand, s *sb, l lang, d *decoySpec) {
			assign(r, s, l, w("aws access key id"), d.class, "AKIAIOSFODNN7EXAMPLE", true)
			assign(r, s, l, w("aws secret access key"), d.class, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", true)
		}},
		{class: "placeholder-ghp-x", hosts: text, render: fixed(names("github token"), constant("ghp_"+strings.Repeat("x", 36)))},
		{class: "placeholder-env-template", hosts: []lang{langYAML, langK8s, langTF, langJSON, langMD, langDocker}, render: fixed(names("db password", "api token"),
			func(r *rand.Rand) string { return "${" + pick(r, "DB_PASSWORD", "API_TOKEN", "SECRET_KEY") + "}" })},
		{class: "placeholder-angle", hosts: text, render: fixed(names("api token", "access token", "client secret"),
			func(r *rand.Rand) string { return pick(r, "<your-token>", "<YOUR_API_KEY>", "<client-secret>") })},
		{class: "placeholder-helm", hosts: []lang{langK8s, langYAML}, render: fixed(names("password", "db password"),
			func(r *rand.Rand) string { return pick(r, "{{ .Values.password }}", "{{ .Values.db.password }}") })},
		{class: "placeholder-changeme", hosts: text, render: fixed(names("password", "admin password"), constant("changeme"))},
		{class: "placeholder-stars", hosts: text, render: fixed(names("password"), constant("********"))},
		{class: "placeholder-stripe-docs", hosts: text, render: fixed(names("stripe secret key"), constant(stripeDocsKey))},
		{class: "placeholder-jwt-io", hosts: text, render: fixed(names("auth token", "example jwt"), constant(jwtIOSample))},
		{class: "placeholder-pem-dots", hosts: []lang{langGo, langPy, langJS, langTS, langYAML, langMD}, render: fixed(names("private key"), constant(pemDots))},
		{class: "placeholder-xxxx", hosts: text, render: fixed(names("api key", "secret"), constant("xxxx"))},
		{class: "placeholder-same-chars", hosts: text, render: fixed(names("api key", "client secret", "token"),
			func(r *rand.Rand) string { return strings.Repeat(pick(r, "a", "0", "x", "X", "*"), 32+r.IntN(9)) })},
		{class: "env-reference", hosts: code, render: renderEnvRef},
		{class: "password-call", hosts: code, render: renderPasswordCall},
		{class: "noise-sha256", hosts: text, render: fixed(names("checksum", "content digest", "schema hash"), sha256hex)},
		{class: "noise-sha1", hosts: text, render: fixed(names("fingerprint", "etag"), sha1hex)},
		{class: "noise-sha512", hosts: text, render: fixed(names("integrity", "bundle integrity"), sha512integrity)},
		{class: "noise-uuid", hosts: text, render: fixed(names("tenant id", "request id", "correlation id"), uuid)},
		{class: "noise-git-sha", hosts: text, render: fixed(names("git commit", "build revision"), sha1hex)},
		{class: "noise-data-uri", hosts: []lang{langJS, langTS, langMD, langJSON, langBundle}, render: fixed(names("logo", "placeholder image"),
			func(r *rand.Rand) string { return dataURI(r, 200+r.IntN(2000)) })},
		{class: "noise-css-hash", hosts: []lang{langJS, langTS, langBundle}, render: fixed(names("class name", "styles root"), cssHash)},
		{class: "noise-chunk-id", hosts: []lang{langJS, langTS, langBundle}, render: fixed(names("chunk id", "chunk hash"),
			func(r *rand.Rand) string { return rs(r, hexLower, 20) })},
		{class: "noise-long-identifier", hosts: code, render: fixed(names("module id", "cache namespace", "feature flag id"),
			func(r *rand.Rand) string { return "__" + word(r) + "_" + rs(r, lowerAlnum, 24) })},
	}
}

func renderEnvRef(r *rand.Rand, s *sb, l lang, d *decoySpec) {
	name := pick(r, "API_TOKEN", "DB_PASSWORD", "STRIPE_SECRET_KEY", "GITHUB_TOKEN")
	var pre, v, post string
	switch l {
	case langGo:
		pre, v, post = "var "+camel(w(strings.ToLower(strings.ReplaceAll(name, "_", " "))))+" = ", `os.Getenv("`+name+`")`, "\n"
	case langPy:
		pre, v, post = name+" = ", `os.environ["`+name+`"]`, "\n"
	case langJS, langTS:
		pre, v, post = "const "+camel(w(strings.ToLower(strings.ReplaceAll(name, "_", " "))))+" = ", "process.env."+name, ";\n"
	default:
		pre, v, post = "    private static final String "+name+" = ", `System.getenv("`+name+`")`, ";\n"
	}
	s.lit(pre)
	s.val(d.class, v, v, true)
	s.lit(post)
}

func renderPasswordCall(r *rand.Rand, s *sb, l lang, d *decoySpec) {
	var pre, v, post string
	switch l {
	case langGo:
		pre, v, post = "var password = ", "getPassword()", "\n"
	case langPy:
		pre, v, post = "password = ", "get_password()", "\n"
	case langJS, langTS:
		pre, v, post = "const password = ", "getPassword()", ";\n"
	default:
		pre, v, post = "    private final String password = ", "getPassword()", ";\n"
	}
	s.lit(pre)
	s.val(d.class, v, v, true)
	s.lit(post)
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
