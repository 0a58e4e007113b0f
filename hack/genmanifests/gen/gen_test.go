package gen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// splitDocs cuts a file at "---" lines, as kubectl does.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.Equal(bytes.TrimRight(l, "\n"), []byte("---")) {
			docs = append(docs, cur)
			cur = nil
			continue
		}
		cur = append(cur, l...)
	}
	if len(bytes.TrimSpace(cur)) > 0 {
		docs = append(docs, cur)
	}
	return docs
}

type doc struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   map[string]any `yaml:"metadata"`
	Spec       map[string]any `yaml:"spec"`
}

// parse checks that every document of data is a Kubernetes object and
// returns them.
func parse(t *testing.T, data []byte) []doc {
	t.Helper()
	var out []doc
	for i, d := range splitDocs(data) {
		var o doc
		if err := yaml.Unmarshal(d, &o); err != nil {
			t.Fatalf("document %d is not valid YAML: %v\n%s", i, err, d)
		}
		if o.APIVersion == "" || o.Kind == "" {
			t.Fatalf("document %d has no apiVersion or kind:\n%s", i, d)
		}
		if name, _ := o.Metadata["name"].(string); name == "" {
			t.Fatalf("document %d has no metadata.name:\n%s", i, d)
		}
		if want := apiVersions[o.Kind]; o.APIVersion != want {
			t.Errorf("document %d: %s has apiVersion %q, want %q", i, o.Kind, o.APIVersion, want)
		}
		out = append(out, o)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a, b := Generate(0, 40, 7), Generate(0, 40, 7)
	if !bytes.Equal(a, b) {
		t.Fatal("two calls with the same seed differ")
	}
	if bytes.Equal(a, Generate(0, 40, 8)) {
		t.Fatal("seeds 7 and 8 give the same content")
	}
	// An object does not depend on the file it lands in.
	whole := splitDocs(Generate(100, 120, 7))
	parts := append(splitDocs(Generate(100, 105, 7)), splitDocs(Generate(105, 120, 7))...)
	if len(whole) != len(parts) {
		t.Fatalf("got %d and %d documents", len(whole), len(parts))
	}
	for i := range whole {
		strip := func(b []byte) string { // the header comment names the range
			if b[0] == '#' {
				b = b[bytes.IndexByte(b, '\n')+1:]
			}
			return string(b)
		}
		if strip(whole[i]) != strip(parts[i]) {
			t.Fatalf("object %d differs when generated in another range", 100+i)
		}
	}
}

func TestDocumentCount(t *testing.T) {
	for _, r := range [][2]int{{0, 1}, {0, 10}, {37, 50}, {1000, 1100}} {
		data := Generate(r[0], r[1], 1)
		docs := parse(t, data)
		if len(docs) != r[1]-r[0] {
			t.Errorf("Generate(%d, %d): %d documents, want %d", r[0], r[1], len(docs), r[1]-r[0])
		}
	}
}

func TestValidObjects(t *testing.T) {
	docs := parse(t, Generate(0, 800, 3))
	names := map[string]bool{}
	for _, o := range docs {
		key := o.Kind + "/" + o.Metadata["name"].(string)
		if names[key] {
			t.Errorf("duplicate object %s", key)
		}
		names[key] = true
		if o.Spec == nil {
			t.Errorf("%s has no spec", key)
			continue
		}
		pod := podSpecOf(o)
		if pod == nil {
			t.Errorf("%s has no pod spec", key)
			continue
		}
		containers, _ := pod["containers"].([]any)
		if n := len(containers); n < 1 || n > 3 {
			t.Errorf("%s has %d containers, want 1 to 3", key, n)
		}
		seen := map[string]bool{}
		for _, field := range []string{"initContainers", "containers"} {
			list, _ := pod[field].([]any)
			for _, c := range list {
				c := c.(map[string]any)
				name, _ := c["name"].(string)
				if seen[name] {
					t.Errorf("%s: duplicate container name %q", key, name)
				}
				seen[name] = true
				if img, _ := c["image"].(string); img == "" {
					t.Errorf("%s: container %q has no image", key, name)
				}
				env, _ := c["env"].([]any)
				for _, e := range env {
					e := e.(map[string]any)
					if v, ok := e["value"]; ok {
						if _, isString := v.(string); !isString {
							t.Errorf("%s: env %v value %v is a %T, not a string", key, e["name"], v, v)
						}
					}
				}
			}
		}
		if o.Kind == "Job" || o.Kind == "CronJob" {
			if rp := pod["restartPolicy"]; rp != "OnFailure" && rp != "Never" {
				t.Errorf("%s: restartPolicy %v", key, rp)
			}
		}
	}
}

func podSpecOf(o doc) map[string]any {
	spec := o.Spec
	if o.Kind == "Pod" {
		return spec
	}
	if o.Kind == "CronJob" {
		jt, _ := spec["jobTemplate"].(map[string]any)
		spec, _ = jt["spec"].(map[string]any)
	}
	tmpl, _ := spec["template"].(map[string]any)
	ps, _ := tmpl["spec"].(map[string]any)
	return ps
}

func TestKindsVaried(t *testing.T) {
	counts := map[string]int{}
	for _, o := range parse(t, Generate(0, 160, 1)) {
		counts[o.Kind]++
	}
	for _, k := range Kinds() {
		if counts[k] == 0 {
			t.Errorf("no %s among 160 objects: %v", k, counts)
		}
		if k != "Deployment" && counts[k] >= counts["Deployment"] {
			t.Errorf("%d %s, not fewer than %d Deployments", counts[k], k, counts["Deployment"])
		}
	}
	if len(counts) != len(Kinds()) {
		t.Errorf("kinds %v, want exactly %v", counts, Kinds())
	}
}

// TestFeaturesVaried checks that both the secure and insecure variants of
// what a scanner looks at occur.
func TestFeaturesVaried(t *testing.T) {
	data := string(Generate(0, 1000, 1))
	for _, s := range []string{
		"privileged: true", "runAsNonRoot: true", "runAsNonRoot: false", "runAsUser: 0", "runAsUser: 1000",
		"readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false",
		"allowPrivilegeEscalation: true", "allowPrivilegeEscalation: false",
		`drop: ["ALL"]`, `"SYS_ADMIN"`, "type: RuntimeDefault", "type: Unconfined", "type: Localhost",
		"resources:", "livenessProbe:", "readinessProbe:", "initContainers:", "restartPolicy: Always",
		":latest\n", "@sha256:", "hostPath:", "path: /var/run/docker.sock", "hostNetwork: true", "hostPID: true",
		"hostPort:", "AKIA", "secretKeyRef:", "annotations:", "namespace: default", "volumeClaimTemplates:",
	} {
		if !strings.Contains(data, s) {
			t.Errorf("no %q in 1000 objects", s)
		}
	}
	// Some images have no tag at all.
	noTag := false
	for _, l := range strings.Split(data, "\n") {
		if img, ok := strings.CutPrefix(strings.TrimSpace(l), "image: "); ok {
			if !strings.Contains(img[strings.LastIndexByte(img, '/')+1:], ":") {
				noTag = true
				break
			}
		}
	}
	if !noTag {
		t.Error("no image without a tag")
	}
}

func TestObjectSize(t *testing.T) {
	const n = 2000
	lines := bytes.Count(Generate(0, n, 1), []byte("\n"))
	if avg := lines / n; avg < 40 || avg > 90 {
		t.Errorf("%d lines per object on average, want 40 to 90", avg)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, 25, 4, 9); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	total := 0
	for _, e := range entries {
		names = append(names, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		n := len(parse(t, data))
		if n != 6 && n != 7 {
			t.Errorf("%s holds %d objects, want 25/4", e.Name(), n)
		}
		total += n
	}
	if want := []string{"w0000.yaml", "w0001.yaml", "w0002.yaml", "w0003.yaml"}; !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
	if total != 25 {
		t.Errorf("%d objects in all, want 25", total)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "w0000.yaml"))
	if !bytes.Equal(first, Generate(0, 6, 9)) {
		t.Error("w0000.yaml is not Generate(0, 6, 9)")
	}

	for _, bad := range [][2]int{{0, 1}, {10, 0}, {3, 4}} {
		if err := Write(t.TempDir(), bad[0], bad[1], 1); err == nil {
			t.Errorf("Write(n=%d, files=%d) succeeded", bad[0], bad[1])
		}
	}
}

func TestQuote(t *testing.T) {
	for _, s := range []string{"yes", "No", "on", "OFF", "true", "null", "y", "1.2.3", "0400", "100m", "25%",
		"*/5 * * * *", "@daily", "a: b", "x #y", "", "-dash", "Sup3rS3cret!", `quote"d`} {
		var m map[string]any
		if err := yaml.Unmarshal([]byte("v: "+q(s)), &m); err != nil || m["v"] != s {
			t.Errorf("q(%q) = %s reads back as %#v (%v)", s, q(s), m["v"], err)
		}
	}
	for _, s := range []string{"nginx", "ghcr.io/example/api:1.2.3", "redis@sha256:abc", "info"} {
		if q(s) != s {
			t.Errorf("q(%q) = %s, want it plain", s, q(s))
		}
	}
}

func ExampleGenerate() {
	data := Generate(0, 3, 1)
	fmt.Println(bytes.Count(data, []byte("\n---\n")) + 1)
	// Output: 3
}
