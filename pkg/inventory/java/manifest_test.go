package java

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{"crlf and continuation", commonsLangMF, map[string]string{
			"Manifest-Version": "1.0", "Created-By": "Apache Maven Bundle Plugin",
			"Bundle-License":       "https://www.apache.org/licenses/LICENSE-2.0.txt",
			"Implementation-Title": "Apache Commons Lang", "Implementation-Vendor-Id": "org.apache.commons",
			"Implementation-Version": "3.12.0", "Bundle-SymbolicName": "org.apache.commons.lang3",
			"Bundle-Version": "3.12.0", "Automatic-Module-Name": "org.apache.commons.lang3",
			"Export-Package": `org.apache.commons.lang3;version="3.12.0",org.apache.commons.lang3.arch;version="3.12.0"`,
		}, ""},
		{"main section only", "Manifest-Version: 1.0\nImplementation-Version: 1\n\nName: org/x/\nImplementation-Version: 2\n",
			map[string]string{"Manifest-Version": "1.0", "Implementation-Version": "1"}, ""},
		{"leading blank lines", "\n\nA: b\n", map[string]string{"A": "b"}, ""},
		{"continuation first", " x\n", nil, "line 1: continuation line without a header"},
		{"no colon", "A: b\nnonsense\n", nil, `line 2: not a "Name: value" header: "nonsense"`},
		{"space in name", "Bad Name: v\n", nil, `line 1: not a "Name: value" header`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseManifest([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseProperties(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{"pom.properties", log4jCoreProps, map[string]string{"version": "2.14.1", "groupId": "org.apache.logging.log4j", "artifactId": "log4j-core"}, ""},
		{"separators", "a=1\nb:2\nc 3\n  d  =  4\n! comment\n", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}, ""},
		{"escapes", `k\:ey=v\u0041l\tue\\`, map[string]string{"k:ey": "vAl\tue\\"}, ""},
		{"continuation", "version=1.\\\n    2.3\r\ngroupId=g\n", map[string]string{"version": "1.2.3", "groupId": "g"}, ""},
		{"bad unicode", "a=\\u00zz\n", nil, `line 1: malformed \u escape "u00zz"`},
		{"short unicode", "b=x\na=\\u0\n", nil, `line 2: malformed \u escape "u0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProperties([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
