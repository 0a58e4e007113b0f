package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// The JUnit XML schema as CI systems (Jenkins, GitLab, GitHub test
// reporters) read it: every finding is a failed test case, every input
// error an erroneous one.

type junitTestSuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Suites   []junitTestSuite `xml:"testsuite"`
}

type junitTestSuite struct {
	Name      string          `xml:"name,attr"`
	Tests     int             `xml:"tests,attr"`
	Failures  int             `xml:"failures,attr"`
	Errors    int             `xml:"errors,attr"`
	TestCases []junitTestCase `xml:"testcase"`
}

type junitTestCase struct {
	ClassName string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
}

// junitProblem is a <failure> or an <error>.
type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	// Body is escaped XML text, see xmlText.
	Body string `xml:",innerxml"`
}

// junitNoFile names the suite of findings and errors that have no file.
const junitNoFile = "(no file)"

// writeJUnit writes one test suite per file, with a failed test case per
// finding and an erroneous one per input error.
func writeJUnit(w io.Writer, r *finding.Report, _ Options) error {
	suites := make(map[string]*junitTestSuite)
	suite := func(file string) *junitTestSuite {
		if file == "" {
			file = junitNoFile
		}
		s := suites[file]
		if s == nil {
			s = &junitTestSuite{Name: file}
			suites[file] = s
		}
		return s
	}

	for i := range r.Findings {
		f := &r.Findings[i]
		s := suite(f.Location.File)
		s.Tests++
		s.Failures++
		s.TestCases = append(s.TestCases, junitTestCase{
			ClassName: s.Name,
			Name:      strings.TrimSpace(f.CheckID() + " " + objectName(f, " ")),
			Failure: &junitProblem{
				Message: f.Message,
				Type:    f.Severity().String(),
				Body:    xmlText(junitFailureText(f)),
			},
		})
	}
	for _, p := range r.Errors {
		s := suite(p.File)
		s.Tests++
		s.Errors++
		s.TestCases = append(s.TestCases, junitTestCase{
			ClassName: s.Name,
			Name:      "input error " + finding.Location{File: p.File, Line: p.Line}.String(),
			Error: &junitProblem{
				Message: p.Message,
				Type:    "InputError",
				Body:    xmlText(p.String()),
			},
		})
	}

	out := junitTestSuites{Name: toolName}
	names := make([]string, 0, len(suites))
	for name := range suites {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s := suites[name]
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Suites = append(out.Suites, *s)
	}

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func junitFailureText(f *finding.Finding) string {
	rule := ruleOf(f)
	var b strings.Builder
	b.WriteString("Severity: " + f.Severity().String() + "\n")
	b.WriteString("Check: " + strings.TrimSpace(f.CheckID()+" "+rule.Title) + "\n")
	b.WriteString("Resource: " + f.Resource.String() + "\n")
	if loc := f.Location.String(); loc != "" {
		b.WriteString("Location: " + loc + "\n")
	}
	if f.Location.Path != "" {
		b.WriteString("Path: " + f.Location.Path + "\n")
	}
	if rule.Remediation != "" {
		b.WriteString("Remediation: " + rule.Remediation + "\n")
	}
	for _, ref := range rule.References {
		b.WriteString("Reference: " + ref + "\n")
	}
	return b.String()
}

// xmlText escapes s as XML character data like xml.EscapeText, which also
// drops characters XML cannot carry, but keeps line breaks and tabs literal
// so that the failure text stays readable in the file.
func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // a bytes.Buffer never fails
	return strings.NewReplacer("&#xA;", "\n", "&#x9;", "\t").Replace(b.String())
}
