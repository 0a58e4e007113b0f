package secret

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// kubernetesSecret is the rule for a Secret object that carries its
// values: whatever they are, they are now in the repository and in every
// copy of it.
var kubernetesSecret = finding.Rule{
	ID: "kubernetes-secret-data", Title: "Kubernetes Secret with values in the manifest", Severity: finding.High,
	Description: "A Secret object carries a non-empty value in data or stringData. Manifests are committed, copied into CI logs and Helm releases; the value is only base64-encoded, not encrypted.",
	Remediation: "Keep the value out of the manifest: create the Secret from a secret manager (External Secrets Operator, Secrets Store CSI driver), or commit it encrypted (Sealed Secrets, SOPS). Rotate the value.",
	References:  []string{"https://kubernetes.io/docs/concepts/security/secrets-good-practices/"},
}

// KubernetesSecretRule is the metadata of the rule ScanObject reports
// Secret values under when no credential rule names them.
func KubernetesSecretRule() *finding.Rule { r := kubernetesSecret; return &r }

// publicSecretKeys are Secret keys that hold what is not secret by itself.
var publicSecretKeys = map[string]bool{
	"ca.crt": true, "tls.crt": true, "ca-bundle.crt": true, "cert": true, "certificate": true,
	"username": true, "user": true, "host": true, "hostname": true, "port": true, "database": true,
	"namespace": true, "endpoint": true, "region": true, "url": true,
}

// FieldMatch is a secret in one field of a Kubernetes object.
type FieldMatch struct {
	Match
	// Rule is set instead of Match.Rule for kubernetes-secret-data.
	FindingRule *finding.Rule
	Path        string
}

// ID is the ID of the rule that found it.
func (m *FieldMatch) ID() string {
	if m.FindingRule != nil {
		return m.FindingRule.ID
	}
	return m.Match.Rule.ID
}

// ObjectOptions tune ScanObject.
type ObjectOptions struct {
	// Generic enables the generic rule and kubernetes-secret-data. Off for
	// objects a Helm chart rendered: their values come from templates
	// (randAlphaNum, lookup) as often as from the chart.
	Generic bool
}

// ScanObject finds secrets in the fields of a Kubernetes object: the
// rules' patterns in every value, the generic rule on values assigned to
// secret-named keys and env vars, and for a Secret the decoded data. The
// error names a data field that is not base64 (the others are scanned).
func (e *Engine) ScanObject(o *manifest.Object, opts ObjectOptions) ([]FieldMatch, error) {
	isSecret := o.Group() == "" && o.Kind() == "Secret"
	if o.Kind() == "SealedSecret" {
		// Encrypted for the cluster's controller: safe to commit, and
		// its keys are named like secrets.
		opts.Generic = false
	}
	var out []FieldMatch
	var problem error
	o.Strings(func(name, value string, pathOf func() string) {
		// Outside a Secret's data, a field with no keyword in its name or
		// value has nothing to report: most of an object is judged here,
		// without building its path.
		if !isSecret && !containsKeyword(e.keywords, value) && !containsKeyword(e.keywords, name) {
			return
		}
		path := pathOf()
		if path == "apiVersion" || path == "kind" || strings.HasPrefix(path, "metadata.managedFields") {
			return
		}
		raw := []byte(value)
		inData := isSecret && (strings.HasPrefix(path, "data.") || strings.HasPrefix(path, "data['"))
		inStringData := isSecret && (strings.HasPrefix(path, "stringData.") || strings.HasPrefix(path, "stringData['"))
		if inData {
			dec, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(value), ""))
			if err != nil {
				if problem == nil {
					problem = fmt.Errorf("%s: not base64: %v", path, err)
				}
				return
			}
			raw = dec
		}
		found := false
		for _, m := range e.ScanValue(name, raw) {
			if m.Rule.Generic && !opts.Generic {
				continue
			}
			found = true
			out = append(out, FieldMatch{Match: m, Path: path})
		}
		if found || !opts.Generic || !(inData || inStringData) || publicSecretKeys[strings.ToLower(name)] {
			return
		}
		v := strings.TrimSpace(string(raw))
		if v == "" || isPlaceholder([]byte(v)) || strings.HasPrefix(v, "$") {
			return
		}
		out = append(out, FieldMatch{
			// The path tells a Secret's keys apart; a digest of a value
			// this rule takes without entropy could be reversed.
			Match:       Match{Start: 0, End: len(raw), Line: 1, Column: 1, Redacted: Redact(raw)},
			FindingRule: &kubernetesSecret,
			Path:        path,
		})
	})
	return out, problem
}

// ObjectFindings turns an object's matches into findings located at
// their fields (in the file the object was rendered from, if it was).
func (e *Engine) ObjectFindings(o *manifest.Object, matches []FieldMatch) []finding.Finding {
	res := o.Resource()
	out := make([]finding.Finding, 0, len(matches))
	for i := range matches {
		m := &matches[i]
		loc := o.Location(m.Path)
		rule := m.FindingRule
		if rule == nil {
			rule = m.Match.Rule.finding
		}
		out = append(out, finding.Finding{
			Rule:        rule,
			Message:     fmt.Sprintf("%s in %s %s: %s", rule.Title, res, m.Path, m.Redacted),
			Resource:    res,
			Location:    loc,
			Fingerprint: Fingerprint(rule.ID, loc.File, res, m.Path, m.Digest),
			Secret:      &finding.Secret{Redacted: m.Redacted},
		})
	}
	return out
}
