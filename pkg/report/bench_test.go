package report

import (
	"fmt"
	"io"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// bigReport has n findings over n/16 resources in n/160 files, the shape
// of a 10,000-workload scan.
func bigReport(n int) *finding.Report {
	rules := []*finding.Rule{
		{ID: "k8s-memory-limits", Title: "Memory limit not set", Severity: finding.Medium, Description: "d", Remediation: "r",
			References: []string{"https://kubernetes.io/"}, Controls: []finding.Control{{Framework: finding.CIS, ID: "5.2.2", Title: "t"}}},
		{ID: "pss-privileged", Title: "Privileged container", Severity: finding.Critical, Description: "d", Remediation: "r"},
	}
	r := &finding.Report{Targets: []string{"deploy/"}, Files: n / 160, Objects: n / 16, Rules: rules}
	for i := range n {
		res := finding.Resource{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: fmt.Sprintf("web-%05d", i/16)}
		path := fmt.Sprintf("spec.template.spec.containers[%d].resources.limits.memory", i%3)
		file := fmt.Sprintf("deploy/w%04d.yaml", i/160)
		r.Findings = append(r.Findings, finding.Finding{
			Rule: rules[i%2], Message: fmt.Sprintf("container \"app-%d\" has no memory limit", i%3), Resource: res,
			Location:    finding.Location{File: file, Line: 10 + i%70, Column: 9, Path: path},
			Fingerprint: finding.ComputeFingerprint(rules[i%2].ID, file, res, path),
		})
	}
	r.Sort()
	return r
}

func BenchmarkWrite(b *testing.B) {
	r := bigReport(100000)
	for _, f := range Formats() {
		b.Run(string(f), func(b *testing.B) {
			for b.Loop() {
				if err := Write(io.Discard, f, r, Options{ToolVersion: "dev", Command: "scan config"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
