package dockerfile

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/pkg/finding"
)

const pinned = "alpine:3.20@sha256:0000000000000000000000000000000000000000000000000000000000000000"

// at lists where rule fired, as LINE:COL.
func at(fs []finding.Finding, rule string) []string {
	var s []string
	for _, f := range fs {
		if f.Rule.ID == rule {
			s = append(s, strconv.Itoa(f.Location.Line)+":"+strconv.Itoa(f.Location.Column))
		}
	}
	return s
}

func lintString(t *testing.T, src string) []finding.Finding {
	t.Helper()
	fs, ps := testLinter().Lint("Dockerfile", []byte(src), false)
	if len(ps) > 0 {
		t.Fatalf("problems: %v", ps)
	}
	return fs
}

func TestPositions(t *testing.T) {
	tests := []struct {
		name, src, rule string
		want            []string
	}{
		{"heredoc script", "FROM alpine:3.20\nRUN <<EOF\nset -e\n  apk add curl=1\nEOF\n", RuleApkNoCache, []string{"4:3"}},
		{"heredoc fed to bash, tab-stripped", "FROM alpine:3.20\nRUN <<-EOT bash -e\n\tapk add git=2\n\tEOT\n", RuleApkNoCache, []string{"3:2"}},
		{"two heredocs", "FROM alpine:3.20\nRUN <<A <<B\nsudo a\nA\necho\nsudo b\nB\n", RuleSudo, []string{"3:1"}},
		{"heredoc of python is not shell", "FROM alpine:3.20\nRUN python3 <<EOF\nimport os\nos.system('sudo x')\nEOF\n", RuleSudo, nil},
		{"heredoc written to a file is data", "FROM alpine:3.20\nRUN cat <<EOF > /x.sh\ncurl u | sh\nEOF\n", RuleCurlPipeShell, nil},
		{"heredoc body is a python script by shebang", "FROM alpine:3.20\nRUN <<EOF\n#!/usr/bin/env python3\nimport sudo\nEOF\n", RuleSudo, nil},
		{"heredoc with sh shebang", "FROM alpine:3.20\nRUN <<EOF\n#!/bin/sh\nsudo x\nEOF\n", RuleSudo, []string{"4:1"}},
		{"continuation with comment and empty lines", "FROM debian:12\nRUN apt-get update \\\n    # comment\n    && apt-get install -y --no-install-recommends curl=1 \\\n\n    && sudo true\n", RuleSudo, []string{"6:8"}},
		{"continuation: command on later line", "FROM debian:12\nRUN apt-get update \\\n && apt-get install -y curl=1 && rm -rf /var/lib/apt/lists/*\n", RuleAptRecommends, []string{"3:5"}},
		{"trailing blanks after escape", "FROM debian:12\nRUN true && \\  \n\tsudo x\n", RuleSudo, []string{"3:2"}},
		{"escaped escape is not a continuation", "FROM debian:12\nRUN echo a\\\\\nRUN sudo x\n", RuleSudo, []string{"3:5"}},
		{"indented instruction", "FROM debian:12\n   RUN   sudo x\n", RuleSudo, []string{"2:10"}},
		{"escape directive backtick", "# escape=`\nFROM debian:12\nRUN apt-get update && `\n    apt-get install -y curl=1 && rm -rf /var/lib/apt/lists/*\nWORKDIR C:\\app\n", RuleAptRecommends, []string{"4:5"}},
		{"escape directive: backslash is literal", "# escape=`\nFROM debian:12\nWORKDIR C:\\app\nRUN echo a\\\nRUN sudo x\n", RuleSudo, []string{"5:5"}},
		{"CRLF line endings", "FROM debian:12\r\nRUN true && \\\r\n  sudo x\r\n", RuleSudo, []string{"3:3"}},
		{"byte-order mark", "\xef\xbb\xbfFROM debian:12\nRUN sudo x\n", RuleSudo, []string{"2:5"}},
		{"exec form shell -c", "FROM debian:12\nRUN [\"/bin/bash\", \"-ec\", \"sudo x\"]\n", RuleSudo, []string{"2:1"}},
		{"exec form program", "FROM debian:12\nRUN [\"apk\", \"add\", \"curl\"]\n", RuleApkNoCache, []string{"2:1"}},
		{"non-POSIX SHELL skips RUN", "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nSHELL [\"powershell\", \"-Command\"]\nRUN sudo x\n", RuleSudo, nil},
		{"ONBUILD is not judged", "FROM debian:12\nONBUILD RUN sudo x\n", RuleSudo, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := lintString(t, tt.src)
			if got := at(fs, tt.rule); !slices.Equal(got, tt.want) {
				t.Errorf("%s at %v, want %v\n%s", tt.rule, got, tt.want, dump(fs))
			}
		})
	}
}

func TestArgInFrom(t *testing.T) {
	tests := []struct {
		name, src, rule string
		want            []string
		msg             string
	}{
		{"expanded tag", "ARG TAG=3.20\nFROM alpine:${TAG}\n", RuleBaseUnpinned, []string{"2:1"}, "alpine:${TAG} (alpine:3.20)"},
		{"expanded image latest", "ARG IMG=alpine\nARG V=latest\nFROM $IMG:$V\n", RuleBaseLatest, []string{"3:1"}, "uses the latest tag"},
		{"ARG without default: not judged", "ARG TAG\nFROM alpine:${TAG}\n", RuleBaseLatest, nil, ""},
		{"ARG without default: not judged (unpinned)", "ARG TAG\nFROM alpine:${TAG}\n", RuleBaseUnpinned, nil, ""},
		{"ARG after FROM is not global", "FROM alpine:3.20@sha256:00 AS a\nARG X=1\nFROM alpine:${X}\n", RuleBaseLatest, nil, ""},
		{"ARG names a stage", "ARG STAGE=build\nFROM " + pinned + " AS build\nUSER 1000\nFROM ${STAGE}\n", RuleUserRoot, nil, ""},
		{"ARG names a stage: no base finding", "ARG STAGE=build\nFROM " + pinned + " AS build\nFROM ${STAGE}\n", RuleBaseLatest, nil, ""},
		{"stage names are case-insensitive", "FROM " + pinned + " AS Build\nUSER app\nFROM build\n", RuleUserRoot, nil, ""},
		{"digest with latest tag is pinned", "FROM alpine:latest@sha256:00\n", RuleBaseLatest, nil, ""},
		{"registry port is not a tag", "FROM localhost:5000/app\n", RuleBaseLatest, []string{"1:1"}, "has no tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := lintString(t, tt.src)
			if got := at(fs, tt.rule); !slices.Equal(got, tt.want) {
				t.Fatalf("%s at %v, want %v\n%s", tt.rule, got, tt.want, dump(fs))
			}
			for _, f := range fs {
				if f.Rule.ID == tt.rule && !strings.Contains(f.Message, tt.msg) {
					t.Errorf("message %q lacks %q", f.Message, tt.msg)
				}
			}
		})
	}
}

func TestInlineIgnore(t *testing.T) {
	src := `# mamori:ignore=dockerfile-user-root,dockerfile-no-healthcheck
FROM ` + pinned + `
# mamori:ignore=dockerfile-sudo reason: the base image needs it
RUN sudo true

# mamori:ignore=dockerfile-sudo

RUN sudo false
# mamori:ignore=dockerfile-sudo,dockerfile-bogus
# another comment
RUN sudo a && chmod 777 /x
`
	fs, ps := testLinter().Lint("Dockerfile", []byte(src), false)
	if got := at(fs, RuleSudo); !slices.Equal(got, []string{"8:5"}) {
		t.Errorf("sudo at %v, want [8:5] (a blank line ends the comment block)\n%s", got, dump(fs))
	}
	if got := at(fs, RuleChmodWorld); !slices.Equal(got, []string{"11:15"}) {
		t.Errorf("chmod at %v, want [11:15]", got)
	}
	for _, r := range []string{RuleUserRoot, RuleNoHealthcheck} {
		if got := at(fs, r); got != nil {
			t.Errorf("%s at %v, want none: ignored before the final FROM", r, got)
		}
	}
	want := []finding.Problem{{File: "Dockerfile", Line: 9, Message: `unknown rule "dockerfile-bogus" in mamori:ignore comment`}}
	if !slices.Equal(ps, want) {
		t.Errorf("problems = %v, want %v", ps, want)
	}
}

func TestDockerignore(t *testing.T) {
	const src = "FROM " + pinned + "\nCOPY . /app\n"
	l := testLinter()
	fs, _ := l.Lint("Dockerfile", []byte(src), true)
	if got := at(fs, RuleCopyContext); got != nil {
		t.Errorf("with .dockerignore: %v", got)
	}
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("Dockerfile", src)
	named := write("build.Dockerfile", src)
	if fs, ps := l.LintFile("Dockerfile", plain); len(ps) > 0 || !slices.Equal(at(fs, RuleCopyContext), []string{"2:1"}) {
		t.Errorf("no ignore file: %v %v", at(fs, RuleCopyContext), ps)
	}
	write("build.Dockerfile.dockerignore", ".git\n")
	if fs, _ := l.LintFile("build.Dockerfile", named); at(fs, RuleCopyContext) != nil {
		t.Errorf("build.Dockerfile.dockerignore not seen")
	}
	if fs, _ := l.LintFile("Dockerfile", plain); at(fs, RuleCopyContext) == nil {
		t.Errorf("build.Dockerfile.dockerignore counted for Dockerfile")
	}
	write(".dockerignore", ".git\n")
	if fs, _ := l.LintFile("Dockerfile", plain); at(fs, RuleCopyContext) != nil {
		t.Errorf(".dockerignore not seen")
	}
	_, ps := l.LintFile("missing/Dockerfile", filepath.Join(dir, "nope"))
	if len(ps) != 1 || ps[0].File != "missing/Dockerfile" || !strings.Contains(ps[0].Message, "no such file") {
		t.Errorf("missing file: %v", ps)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"empty", "", 0, "file with no instructions"},
		{"only comments", "# nothing\n\n", 2, "file with no instructions"},
		{"unterminated heredoc", "FROM alpine:3.20\nRUN <<EOF\necho hi\n", 2, "unterminated heredoc"},
		{"unknown instruction", "FROM alpine:3.20\nRUNN echo\n", 2, "unknown instruction RUNN"},
		{"no FROM", "ARG X=1\n", 0, "no FROM instruction"},
		{"instruction before FROM", "RUN echo\nFROM alpine:3.20\n", 1, "RUN before the first FROM"},
		{"bad FROM", "FROM alpine:3.20 build\n", 1, "FROM requires one argument"},
		{"ENV without value", "FROM alpine:3.20\nENV A\n", 2, "ENV must have two arguments"},
		{"invalid escape", "# escape=x\nFROM alpine:3.20\n", 0, "invalid escape token"},
		{"JSON with non-strings", "FROM alpine:3.20\nCMD [1, 2]\n", 2, "string"},
		{"line too long", "FROM alpine:3.20\nRUN " + strings.Repeat("x", 70000) + "\n", 1, "max allowed size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := testLinter().Lint("dir/Dockerfile", []byte(tt.src), false)
			if len(ps) == 0 {
				t.Fatal("no problem reported")
			}
			p := ps[0]
			if p.File != "dir/Dockerfile" || p.Line != tt.line || !strings.Contains(p.Message, tt.msg) {
				t.Errorf("problem = %+v, want line %d and %q", p, tt.line, tt.msg)
			}
		})
	}
}

func TestIsDockerfile(t *testing.T) {
	for name, want := range map[string]bool{
		"Dockerfile": true, "a/b/Dockerfile": true, "dockerfile": true, "Containerfile": true, "Dockerfile.dev": true,
		"api.Dockerfile": true, "api.dockerfile": true, "Containerfile.prod": true,
		"Dockerfile.dockerignore": false, "api.Dockerfile.dockerignore": false, ".dockerignore": false,
		"Dockerfiles": false, "mydockerfile": false, "docker-compose.yml": false, "Dockerfile/x": false,
	} {
		if got := IsDockerfile(name); got != want {
			t.Errorf("IsDockerfile(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSecretsNeverShown(t *testing.T) {
	const src = "ARG NPM_TOKEN=npm_s3cr3tvalue\nFROM " + pinned + "\nENV CLOUD=AKIAIOSFODNN7EXAMPLE DB_PASSWORD=hunter2hunter2\n"
	fs := lintString(t, src)
	var value *finding.Finding
	for i, f := range fs {
		for _, v := range []string{"npm_s3cr3tvalue", "AKIAIOSFODNN7EXAMPLE", "hunter2hunter2"} {
			if strings.Contains(f.Message, v) || f.Secret != nil && strings.Contains(f.Secret.Redacted, v) {
				t.Errorf("finding shows the value %q: %+v", v, f)
			}
		}
		if f.Rule.ID == RuleSecretValue {
			value = &fs[i]
		}
	}
	if value == nil || value.Secret == nil || value.Secret.Redacted != "AKIA…(20 chars)" || value.Location.Path != "stage[0].ENV[0].CLOUD" {
		t.Fatalf("secret-value finding = %+v", value)
	}
	if got := at(fs, RuleSecretName); !slices.Equal(got, []string{"1:1", "3:1"}) {
		t.Errorf("secret-name at %v", got)
	}
	// Without a detector only names are judged.
	fs, _ = New(Options{}).Lint("Dockerfile", []byte(src), false)
	if got := at(fs, RuleSecretValue); got != nil {
		t.Errorf("secret-value without detector at %v", got)
	}
}

// TestFingerprintsSurviveMovedLines: findings keep their fingerprints when
// lines are added above them and instructions of other kinds, or in other
// stages, are added. (A RUN inserted before a RUN of the same stage shifts
// its ordinal: paths are stage[name].INSTRUCTION[ordinal].)
func TestFingerprintsSurviveMovedLines(t *testing.T) {
	before := "FROM golang:1.22 AS build\nRUN sudo make\nFROM alpine:3.20\nCOPY --from=build /app /app\nRUN chmod 777 /app\n"
	after := "# a header\n\nFROM golang:1.22 AS build\nENV CGO_ENABLED=0\nRUN sudo make\nFROM alpine:3.20\nLABEL a=b\nCOPY --from=build /app /app\nRUN chmod 777 /app\n"
	fb, fa := lintString(t, before), lintString(t, after)
	prints := func(fs []finding.Finding) map[string]string {
		m := map[string]string{}
		for _, f := range fs {
			m[f.Rule.ID+" "+f.Message] = f.Fingerprint
		}
		return m
	}
	pb, pa := prints(fb), prints(fa)
	if len(pb) != len(fb) || len(pb) == 0 {
		t.Fatalf("duplicate or no findings: %v", pb)
	}
	for k, v := range pb {
		if pa[k] != v {
			t.Errorf("%s: fingerprint %s became %s", k, v, pa[k])
		}
	}
	if !slices.IsSortedFunc(fa, finding.Compare) {
		t.Error("findings not sorted")
	}
}

// TestConcurrentLint: one Linter serves many goroutines with the same
// results as sequential use (run with -race).
func TestConcurrentLint(t *testing.T) {
	files, _ := filepath.Glob("testdata/rules/*/fail.Dockerfile")
	l := testLinter()
	want := make([][]finding.Finding, len(files))
	datas := make([][]byte, len(files))
	for i, p := range files {
		datas[i], _ = os.ReadFile(p)
		want[i], _ = l.Lint(p, datas[i], false)
	}
	errs := make(chan string, 4*len(files))
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i, p := range files {
				got, _ := l.Lint(p, datas[i], false)
				if !slices.EqualFunc(got, want[i], func(a, b finding.Finding) bool {
					return a.Fingerprint == b.Fingerprint && a.Location == b.Location && a.Message == b.Message
				}) {
					errs <- p
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	close(errs)
	for p := range errs {
		t.Errorf("%s: concurrent result differs", p)
	}
}
