package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runDB runs `mamori db args...` as Run would once the lead registers it.
func runDB(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	stdio := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Environment: func(k string) string { return env[k] }}
	root := &cobra.Command{Use: "mamori", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newDB(stdio))
	root.SetArgs(append([]string{"db"}, args...))
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
		return ExitClean, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.code, out.String(), errb.String()
	}
	errb.WriteString("Error: " + err.Error() + "\n")
	return ExitError, out.String(), errb.String()
}

func TestDBCommands(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"MAMORI_DB": filepath.Join(dir, "osv.db")}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(mustReadFile(t, "testdata/db/bad.json.txt")), 0o644); err != nil {
		t.Fatal(err)
	}

	code, _, errs := runDB(t, env, "status")
	if code != ExitError || !strings.Contains(errs, "run `mamori db import` or `mamori db update`") {
		t.Errorf("status without a database: exit %d, %s", code, errs)
	}
	code, _, errs = runDB(t, env, "import", "testdata/db", bad)
	if code != ExitError || !strings.Contains(errs, bad+`: BAD-1: affected[0]: package "x" has no ecosystem`) {
		t.Errorf("import with a bad record: exit %d, %s", code, errs)
	}
	code, out, errs := runDB(t, env, "import", "--skip-invalid", "testdata/db", bad)
	if code != ExitClean || !strings.Contains(out, "2 records (2 read: 2 new, 0 replaced by a newer copy, 0 not newer; 1 invalid skipped)") || !strings.Contains(errs, "skipped: "+bad) {
		t.Errorf("import --skip-invalid: exit %d\n%s\n%s", code, out, errs)
	}

	code, out, errs = runDB(t, env, "status")
	if code != ExitClean {
		t.Fatalf("status: exit %d, %s", code, errs)
	}
	// Columns are aligned by tabwriter; compare words.
	words := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"Database: " + env["MAMORI_DB"] + " (", "Records: 2", "ECOSYSTEM RECORDS Debian 1 Debian:9 1 Debian:12 1 PyPI 1 npm 1"} {
		if !strings.Contains(words, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runDB(t, env, "status", "--format", "json")
	var st struct {
		Path string
		Size int64
		Meta struct {
			Records int
			Bases   map[string]int
			Sources []string
		}
	}
	if err := json.Unmarshal([]byte(out), &st); code != ExitClean || err != nil {
		t.Fatalf("status json: exit %d, %v\n%s", code, err, out)
	}
	if st.Path != env["MAMORI_DB"] || st.Size == 0 || st.Meta.Records != 2 || st.Meta.Bases["Debian"] != 1 || len(st.Meta.Sources) != 2 {
		t.Errorf("status json: %+v", st)
	}

	// --db wins over the environment.
	other := filepath.Join(dir, "other.db")
	if code, _, errs := runDB(t, env, "--db", other, "import", "testdata/db/TEST-2024-3.json"); code != ExitClean {
		t.Fatalf("import --db: exit %d, %s", code, errs)
	}
	if _, out, _ := runDB(t, env, "status", "--db", other); !strings.Contains(out, "Records:   1\n") {
		t.Errorf("status --db:\n%s", out)
	}

	for _, args := range [][]string{{"status", "--format", "xml"}, {"import"}, {"update", "extra"}} {
		if code, _, _ := runDB(t, env, args...); code != ExitError {
			t.Errorf("%v: exit %d, want %d", args, code, ExitError)
		}
	}
}

func TestDBUpdate(t *testing.T) {
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("TEST-2024-3.json")
	w.Write([]byte(mustReadFile(t, "testdata/db/TEST-2024-3.json")))
	zw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/Debian/all.zip":
			http.NotFound(w, r)
		case r.Header.Get("If-None-Match") == `"v1"`:
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("ETag", `"v1"`)
			w.Write(zbuf.Bytes())
		}
	}))
	defer srv.Close()
	env := map[string]string{"HOME": t.TempDir()}

	code, out, errs := runDB(t, env, "update", "--source", srv.URL, "--ecosystem", "Debian")
	if code != ExitClean || !strings.Contains(out, "1 records") || !strings.Contains(errs, "Debian: downloaded") {
		t.Errorf("update: exit %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(env["HOME"], ".cache", "mamori", "osv.db")); err != nil {
		t.Errorf("default path: %v", err)
	}
	code, out, _ = runDB(t, env, "update", "--source", srv.URL)
	if code != ExitClean || !strings.Contains(out, "is up to date (Debian not modified)") {
		t.Errorf("second update: exit %d\n%s", code, out)
	}
	code, _, errs = runDB(t, env, "update", "--source", srv.URL, "--ecosystem", "Nope")
	if code != ExitError || !strings.Contains(errs, "update Nope: GET "+srv.URL+"/Nope/all.zip: 404 Not Found") {
		t.Errorf("unknown ecosystem: exit %d, %s", code, errs)
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
