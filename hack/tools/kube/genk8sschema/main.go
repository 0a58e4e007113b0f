// Command genk8sschema writes the OpenAPI definitions of the built-in
// Kubernetes kinds that pkg/k8sschema embeds, from the Kubernetes release
// this tool module requires: k8s.io/kubernetes/pkg/generated/openapi, the
// definitions kube-controller-manager type-checks ValidatingAdmissionPolicies
// against.
//
// It keeps what CEL type checking and cost estimation use and drops the rest:
// only the definitions reachable from a kind registered in client-go's and
// apiextensions' schemes (the schemes kube-controller-manager names the
// definitions with), and no descriptions or examples. The output is minified
// JSON, gzip-compressed, and the same bytes for the same input.
//
// Usage (hack/update-k8sschema.sh runs it):
//
//	go run ./genk8sschema -o ../../../pkg/k8sschema/data/definitions.json.gz
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	apiextensionsscheme "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/scheme"
	endpointsopenapi "k8s.io/apiserver/pkg/endpoints/openapi"
	k8sscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kubernetes/pkg/generated/openapi"
)

func main() {
	out := flag.String("o", "definitions.json.gz", "output file")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "genk8sschema:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	defs := openapi.GetOpenAPIDefinitions(spec.MustCreateRef)
	namer := endpointsopenapi.NewDefinitionNamer(k8sscheme.Scheme, apiextensionsscheme.Scheme)

	// The kinds' definitions, then everything they reference.
	var queue []string
	for name := range defs {
		if _, ext := namer.GetDefinitionName(name); ext != nil {
			queue = append(queue, name)
		}
	}
	sort.Strings(queue)
	kinds := len(queue)
	keep := make(map[string]spec.Schema)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, done := keep[name]; done {
			continue
		}
		def, ok := defs[name]
		if !ok {
			return fmt.Errorf("definition %q is referenced but not defined", name)
		}
		s := def.Schema
		strip(&s, func(ref string) { queue = append(queue, ref) })
		keep[name] = s
	}

	data, err := json.Marshal(keep) // map keys come out sorted
	if err != nil {
		return fmt.Errorf("encoding the definitions: %w", err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return fmt.Errorf("compressing the definitions: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compressing the definitions: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	fmt.Fprintf(os.Stderr, "genk8sschema: %d of %d definitions (%d kinds), %d bytes of JSON, %d gzipped, to %s\n",
		len(keep), len(defs), kinds, len(data), buf.Len(), out)
	return nil
}

// strip removes documentation from s and its nested schemas in place and
// reports every definition they reference.
func strip(s *spec.Schema, ref func(string)) {
	s.Description = ""
	s.Example = nil
	s.ExternalDocs = nil
	// The OpenAPI v2 rendering of a v3-only schema (Quantity) repeats the
	// description.
	if v2, ok := s.Extensions[common.ExtensionV2Schema].(spec.Schema); ok {
		strip(&v2, ref)
		s.Extensions[common.ExtensionV2Schema] = v2
	}
	if u := s.Ref.GetURL(); u != nil {
		ref(s.Ref.String())
	}
	for k, p := range s.Properties {
		strip(&p, ref)
		s.Properties[k] = p
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		strip(s.AdditionalProperties.Schema, ref)
	}
	if s.Items != nil {
		if s.Items.Schema != nil {
			strip(s.Items.Schema, ref)
		}
		for i := range s.Items.Schemas {
			strip(&s.Items.Schemas[i], ref)
		}
	}
	for _, list := range [][]spec.Schema{s.AllOf, s.AnyOf, s.OneOf} {
		for i := range list {
			strip(&list[i], ref)
		}
	}
	if s.Not != nil {
		strip(s.Not, ref)
	}
}
