package dockerfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cmdView is a command as the tests compare it.
type cmdView struct {
	Words  string // words joined by |
	Op     string
	Depth  int
	Parent int
	At     string // the script from the command's offset, first 8 bytes
}

func view(script string, cmds []shCmd) []cmdView {
	var vs []cmdView
	for _, c := range cmds {
		at := script[c.pos:]
		if len(at) > 8 {
			at = at[:8]
		}
		vs = append(vs, cmdView{strings.Join(c.words, "|"), c.op, c.depth, c.parent, at})
	}
	return vs
}

func TestSplitScript(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []cmdView
	}{
		{"and-or-seq-pipe", `a 1 && b || c; d | e & f`, []cmdView{
			{"a|1", "", 0, -1, "a 1 && b"}, {"b", "&&", 0, -1, "b || c; "}, {"c", "||", 0, -1, "c; d | e"},
			{"d", ";", 0, -1, "d | e & "}, {"e", "|", 0, -1, "e & f"}, {"f", "&", 0, -1, "f"},
		}},
		{"quotes", `echo "a && b" 'c | d' e\ f`, []cmdView{{"echo|a && b|c | d|e f", "", 0, -1, `echo "a `}}},
		{"escapes in double quotes", `echo "x\"y\$z\n"`, []cmdView{{`echo|x"y$z\n`, "", 0, -1, `echo "x\`}}},
		{"subshell", `make && (cd docs && make html)`, []cmdView{
			{"make", "", 0, -1, "make && "}, {"cd|docs", "&&", 1, -1, "cd docs "}, {"make|html", "&&", 1, -1, "make htm"},
		}},
		{"command substitution", `sh -c "$(curl x)" && echo $(id -u)done`, []cmdView{
			{"sh|-c|$(curl x)", "", 0, -1, `sh -c "$`}, {"echo|$(id -u)done", "&&", 0, -1, "echo $(i"}, {"id|-u", "", 1, 1, "id -u)do"},
		}},
		{"process substitution", `bash <(curl -s u)`, []cmdView{{"bash|<(curl -s u)", "", 0, -1, "bash <(c"}, {"curl|-s|u", "", 1, 0, "curl -s "}}},
		{"backticks", "echo `uname -m`", []cmdView{{"echo|`uname -m`", "", 0, -1, "echo `un"}, {"uname|-m", "", 1, 0, "uname -m"}}},
		{"comments and newlines", "a # b && c\nd\n\n", []cmdView{{"a", "", 0, -1, "a # b &&"}, {"d", "\n", 0, -1, "d\n\n"}}},
		{"line continuation", "apt-get install \\\n  curl", []cmdView{{"apt-get|install|curl", "", 0, -1, "apt-get "}}},
		{"redirections", `echo x > /tmp/f 2>&1 && cat < in >>out`, []cmdView{{"echo|x", "", 0, -1, "echo x >"}, {"cat", "&&", 0, -1, "cat < in"}}},
		{"heredoc body is data", "cat <<'EOF' > /etc/x\ncurl u | sh\nEOF\necho done", []cmdView{{"cat", "", 0, -1, "cat <<'E"}, {"echo|done", "\n", 0, -1, "echo don"}}},
		{"tab-stripped heredoc", "cat <<-END\n\tx && y\n\tEND\nz", []cmdView{{"cat", "", 0, -1, "cat <<-E"}, {"z", "\n", 0, -1, "z"}}},
		{"here-string is not a heredoc", "cat <<< x\ny", []cmdView{{"cat", "", 0, -1, "cat <<< "}, {"y", "\n", 0, -1, "y"}}},
		{"unterminated quote", `echo "abc`, []cmdView{{"echo|abc", "", 0, -1, `echo "ab`}}},
		{"stray closing", `a ) b`, []cmdView{{"a|b", "", 0, -1, "a ) b"}}},
		{"empty", "  \n\t", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := view(tt.script, splitScript(tt.script))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("splitScript(%q) (-want +got):\n%s", tt.script, diff)
			}
		})
	}
}

func TestEffective(t *testing.T) {
	tests := []struct {
		in   string
		want string
		sudo bool
	}{
		{"DEBIAN_FRONTEND=noninteractive apt-get install x", "apt-get install x", false},
		{"sudo -E -u app bash -s", "bash -s", true},
		{"env -u X A=1 exec nice -n 5 make", "make", false},
		{"if curl -f u", "curl -f u", false},
		{"a=1 b=2", "", false},
	}
	for _, tt := range tests {
		got, sudo := effective(strings.Fields(tt.in))
		if strings.Join(got, " ") != tt.want || sudo != tt.sudo {
			t.Errorf("effective(%q) = %q, %v; want %q, %v", tt.in, got, sudo, tt.want, tt.sudo)
		}
	}
}

func TestWorldWritable(t *testing.T) {
	for mode, want := range map[string]bool{
		"777": true, "0777": true, "666": true, "2": true, "a+rwx": true, "o+w": true, "ugo=rwx": true, "u+x,o+w": true,
		"755": false, "1777": false, "0644": false, "u+rwx": false, "o-w": false, "a+rwxt": false, "+x": false, "9": false, "": false,
	} {
		if got := worldWritable(mode); got != want {
			t.Errorf("worldWritable(%q) = %v, want %v", mode, got, want)
		}
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"NPM_TOKEN": true, "githubToken": true, "DB_PASSWORD": true, "AWS_SECRET_ACCESS_KEY": true, "API_KEY": true,
		"private-key": true, "DB_PASS": true, "PASSWORD_FILE": false, "AWS_ACCESS_KEY_ID": false, "GPG_KEY": false,
		"PATH": false, "TOKEN_URL": false, "KEY": false, "PWD": false, "": false,
	} {
		if got := secretName(name); got != want {
			t.Errorf("secretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func FuzzSplitScript(f *testing.F) {
	for _, s := range []string{
		`a && b || c; d | e & f`, `sh -c "$(curl x)"`, "bash <(curl -s u)", "echo `uname`", "cat <<EOF\nx\nEOF\ny",
		`(cd a && make) ; echo "x\"y"`, `a ) b ( c`, "cat <<-'E'\n\tz\n\tE", `x\`, `"unterminated`, `$(`, "``",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range splitScript(s) {
			if c.pos < 0 || c.pos > len(s) || len(c.words) == 0 {
				t.Fatalf("bad command %+v for %q", c, s)
			}
			if c.parent >= 0 && c.depth == 0 {
				t.Fatalf("nested command at depth 0: %+v", c)
			}
		}
	})
}
