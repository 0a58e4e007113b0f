package report

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
)

type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Suites   []struct {
		Name      string `xml:"name,attr"`
		Tests     int    `xml:"tests,attr"`
		Failures  int    `xml:"failures,attr"`
		Errors    int    `xml:"errors,attr"`
		TestCases []struct {
			ClassName string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func decodeJUnit(t *testing.T, r *finding.Report) junitDoc {
	t.Helper()
	b := write(t, JUnit, r, testOpts)
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JUnit output is not valid XML: %v\n%s", err, b)
	}
	return doc
}

func TestJUnit(t *testing.T) {
	r := testReport()
	doc := decodeJUnit(t, r)
	if doc.Name != "mamori" || doc.Tests != 5 || doc.Failures != len(r.Findings) || doc.Errors != len(r.Errors) {
		t.Errorf("testsuites name=%q tests=%d failures=%d errors=%d; want mamori 5 %d %d",
			doc.Name, doc.Tests, doc.Failures, doc.Errors, len(r.Findings), len(r.Errors))
	}
	var suites []string
	failures, errors := 0, 0
	for _, s := range doc.Suites {
		suites = append(suites, s.Name)
		if len(s.TestCases) != s.Tests {
			t.Errorf("suite %s: tests=%d but %d test cases", s.Name, s.Tests, len(s.TestCases))
		}
		for _, tc := range s.TestCases {
			if tc.ClassName != s.Name {
				t.Errorf("test case %q: classname %q, want %q", tc.Name, tc.ClassName, s.Name)
			}
			if tc.Failure != nil {
				failures++
			}
			if tc.Error != nil {
				errors++
			}
		}
	}
	if failures != len(r.Findings) || errors != len(r.Errors) {
		t.Errorf("got %d <failure> and %d <error>, want %d and %d", failures, errors, len(r.Findings), len(r.Errors))
	}
	if got, want := strings.Join(suites, " "), "examples/broken.yaml examples/web.yaml examples/worker.yaml"; got != want {
		t.Errorf("suites %q, want %q", got, want)
	}

	// The failure of the privileged web container, with everything a CI
	// user needs to fix it.
	tc := doc.Suites[1].TestCases[2]
	if want := `MAM-001 Deployment shop/web spec.template.spec.containers[0].securityContext.privileged`; tc.Name != want {
		t.Errorf("test case name %q, want %q", tc.Name, want)
	}
	if tc.Failure == nil || tc.Failure.Type != "CRITICAL" || tc.Failure.Message != `Container "web" is privileged` {
		t.Fatalf("failure = %+v", tc.Failure)
	}
	for _, want := range []string{"CRITICAL", "Privileged container", "examples/web.yaml:22:23", "securityContext.privileged", "Set securityContext.privileged to false."} {
		if !strings.Contains(tc.Failure.Text, want) {
			t.Errorf("failure text lacks %q:\n%s", want, tc.Failure.Text)
		}
	}
}

func TestJUnitEmpty(t *testing.T) {
	doc := decodeJUnit(t, &finding.Report{})
	if doc.Name != "mamori" || doc.Tests != 0 || doc.Failures != 0 || doc.Errors != 0 || len(doc.Suites) != 0 {
		t.Errorf("empty report gave %+v", doc)
	}
}

// TestJUnitEscaping feeds text XML cannot carry as is.
func TestJUnitEscaping(t *testing.T) {
	msg := "a <b> & \"c\" ]]> \x01 d\nnext line"
	r := &finding.Report{Findings: []finding.Finding{
		newFinding(ruleTag, msg, finding.Resource{Kind: "Pod", Name: "x<y"}, finding.Location{File: "a&b.yaml", Line: 1}),
	}}
	doc := decodeJUnit(t, r)
	tc := doc.Suites[0].TestCases[0]
	if doc.Suites[0].Name != "a&b.yaml" || tc.Name != "MAM-003 Pod x<y" {
		t.Errorf("suite %q, test case %q", doc.Suites[0].Name, tc.Name)
	}
	if want := "a <b> & \"c\" ]]> \uFFFD d\nnext line"; tc.Failure.Message != want {
		t.Errorf("message %q, want %q", tc.Failure.Message, want)
	}
}
