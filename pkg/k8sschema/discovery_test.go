package k8sschema

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/restmapper"

	"github.com/mamori-dev/mamori/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite data/discovery.json.gz from the test control plane")

// TestDiscoveryData compares the embedded discovery data with what the test
// control plane's kube-apiserver serves with every built-in API version
// enabled; with -update it rewrites the data instead
// (hack/update-k8sschema.sh does that).
func TestDiscoveryData(t *testing.T) {
	cfg := testenv.Start(t,
		testenv.APIServerArg("runtime-config", "api/all=true"),
		testenv.APIServerArg("feature-gates", "AllAlpha=true,AllBeta=true"))
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	live, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatalf("reading discovery: %v", err)
	}
	info, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if info.GitVersion != KubernetesVersion {
		t.Fatalf("the test control plane is %s, the data describes %s", info.GitVersion, KubernetesVersion)
	}
	for _, g := range live {
		for _, resources := range g.VersionedResources {
			for i := range resources {
				// A hash of the storage encoding: noise for a mapper.
				resources[i].StorageVersionHash = ""
			}
		}
	}

	if *update {
		data, err := json.Marshal(live)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("data/discovery.json.gz", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote data/discovery.json.gz: %d groups, %d bytes of JSON, %d gzipped", len(live), len(data), buf.Len())
		return
	}

	embedded, err := Discovery()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(embedded, live); diff != "" {
		t.Errorf("data/discovery.json.gz differs from the API server (-embedded +live); run hack/update-k8sschema.sh:\n%s", diff)
	}
}
