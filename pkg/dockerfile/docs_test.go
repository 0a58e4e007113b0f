package dockerfile

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const docsPath = "../../docs/dockerfile.md"

const docsIntro = `# Dockerfile lint

Generated from the rules of ` + "`pkg/dockerfile`" + ` and their test fixtures by
` + "`go test ./pkg/dockerfile -run TestDocs -update`" + `; do not edit by hand.

` + "`mamori scan dockerfile`" + ` judges Dockerfiles and Containerfiles (` + "`Dockerfile`" + `,
` + "`Containerfile`" + `, ` + "`*.Dockerfile`" + `, ` + "`Dockerfile.*`" + `). Files are read with BuildKit's
own parser, so line continuations, heredocs (` + "`RUN <<EOF`" + `) and the ` + "`# escape=`" + `
directive mean what they mean to ` + "`docker build`" + `. Shell-form ` + "`RUN`" + ` commands, the
bodies of heredocs run by a shell, and exec-form ` + "`[\"sh\", \"-c\", \"…\"]`" + ` are split into
commands at ` + "`&&`, `||`, `;`, `|`" + ` and newlines (quotes, subshells, substitutions and
here-documents respected) before the rules look at them.

## Findings

Each finding names the rule, the stage (its ` + "`AS`" + ` name, or ` + "`stage N`" + ` counting
from 0) and the instruction's line and column; for a ` + "`RUN`" + ` spanning continuation
lines, the line and column of the offending command. Its path identifies the
instruction independently of line numbers: ` + "`stage[builder].RUN[2]`" + ` is the third
RUN of stage builder, ` + "`stage[0].ENV[1].NPM_TOKEN`" + ` a key of an ENV,
` + "`global.ARG[0]`" + ` an ARG before the first FROM. Fingerprints derive from the path, so
they survive lines moving; inserting an instruction of the same kind earlier
in the same stage shifts the ordinal. A rule reports an instruction once.

Rules about the final stage (no USER, no HEALTHCHECK, shell-form ENTRYPOINT or
CMD) judge the image that ships: the last stage, following ` + "`FROM <stage>`" + ` to
earlier stages of the same file (a ` + "`USER`" + ` or ` + "`HEALTHCHECK`" + ` set there counts).

Base images are judged after expanding ARG defaults declared before the first
FROM (` + "`ARG TAG=3.20`" + ` / ` + "`FROM alpine:${TAG}`" + `). A FROM using an ARG without a default
is not judged, and not reported: its image is decided by ` + "`--build-arg`" + `. ` + "`scratch`" + `
and references to earlier stages are not images.

Secret values (` + "`dockerfile-secret-value`" + `) are recognised by mamori's secrets engine in
ENV values, ARG defaults and LABEL values; findings carry a redacted form,
never the value. ` + "`dockerfile-secret-name`" + ` judges names alone.

## Inline ignores

A comment line directly above an instruction suppresses rules for that
instruction:

` + "```dockerfile" + `
# mamori:ignore=dockerfile-chmod-world-writable,dockerfile-sudo shared with a sidecar
RUN mkdir -p /uploads && chmod 777 /uploads
` + "```" + `

Several comment lines may stand between the ignore and the instruction; a
blank line ends the block. Text after the list is a free-form reason. Rules
about something missing (` + "`dockerfile-user-root`" + ` without USER,
` + "`dockerfile-no-healthcheck`" + `) are reported at the final FROM: put the ignore above
it. An unknown rule ID in an ignore comment is reported as a problem naming
the comment's line, so a typo never silently ignores nothing.

## Problems

A Dockerfile BuildKit cannot parse (unterminated heredoc, a line over 64 KiB,
an invalid escape directive, ENV without a value, a JSON form with non-string
elements), an empty file, a file without FROM, an unknown instruction, or an
instruction other than ARG before the first FROM is reported as a problem
with the line BuildKit gives. Unknown instructions and misplaced ones are
skipped and the rest of the file is still judged; parse errors stop the file.

## Rules

`

func ruleDocs(t *testing.T) string {
	var b strings.Builder
	b.WriteString(docsIntro)
	b.WriteString("| ID | Severity | Title |\n|---|---|---|\n")
	for _, r := range Rules() {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", r.ID, r.ID, r.Severity, r.Title)
	}
	want := regexp.MustCompile(`(?m)^# want .*\n`)
	for _, r := range Rules() {
		fmt.Fprintf(&b, "\n## %s\n\n**%s** — %s\n\n%s\n\n**Remediation.** %s\n", r.ID, r.Severity, r.Title, r.Description, r.Remediation)
		for _, ex := range []struct{ file, title string }{{"fail.Dockerfile", "Reported"}, {"pass.Dockerfile", "Not reported by this rule"}} {
			data, err := os.ReadFile(filepath.Join("testdata/rules", r.ID, ex.file))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\n%s:\n\n```dockerfile\n%s```\n", ex.title, want.ReplaceAllString(string(data), ""))
		}
		if len(r.Controls) > 0 {
			b.WriteString("\n**Controls.**")
			for i, c := range r.Controls {
				sep := ","
				if i == 0 {
					sep = ""
				}
				fmt.Fprintf(&b, "%s %s (%s)", sep, c, c.Title)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n**References.**\n\n")
		for _, ref := range r.References {
			fmt.Fprintf(&b, "- %s\n", ref)
		}
	}
	return b.String()
}

// TestDocs keeps docs/dockerfile.md in step with Rules() and the fixtures,
// whose fail and pass files are the documented examples.
func TestDocs(t *testing.T) {
	golden(t, docsPath, []byte(ruleDocs(t)))
}
