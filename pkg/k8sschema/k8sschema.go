// Package k8sschema knows the built-in kinds of Kubernetes 1.37 without a
// cluster: their OpenAPI schemas, for type-checking CEL expressions the way
// ValidatingAdmissionPolicy does, and their resources (plural names, scope),
// for mapping kinds to resources.
//
// Both come from the real thing and are embedded, compressed, in data/:
//   - data/definitions.json.gz: the OpenAPI definitions of
//     k8s.io/kubernetes/pkg/generated/openapi v1.37.2 reachable from a
//     built-in kind, without descriptions, written by
//     hack/tools/kube/genk8sschema. Resolver serves them through
//     resolver.NewDefinitionsSchemaResolver with client-go's and apiextensions'
//     schemes, the resolver kube-controller-manager type-checks policies with.
//   - data/discovery.json.gz: the discovery documents of kube-apiserver
//     v1.37.2 with every built-in API version and feature gate enabled
//     (--runtime-config=api/all=true, --feature-gates=AllAlpha=true,AllBeta=true),
//     dumped by this package's tests from the test control plane (see
//     TestDiscoveryData, which also checks the data against it);
//     RESTMapper serves them through restmapper.NewDiscoveryRESTMapper.
//
// hack/update-k8sschema.sh regenerates both. The data is parsed on first use
// of each value returned here; keep the value rather than calling again.
package k8sschema

//go:generate ../../hack/update-k8sschema.sh

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	apiextensionsscheme "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/scheme"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	k8sscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/restmapper"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// KubernetesVersion is the release the embedded data describes.
const KubernetesVersion = "v1.37.2"

var (
	//go:embed data/definitions.json.gz
	definitionsGz []byte
	//go:embed data/discovery.json.gz
	discoveryGz []byte
)

// Resolver returns a resolver for the schemas of Kubernetes' built-in kinds,
// with every $ref replaced by the schema it names (a recursive reference
// becomes an empty object). An unknown kind's error wraps
// resolver.ErrSchemaNotFound. Each kind is resolved once and the same schema
// returned after: do not modify it. It is safe for concurrent use.
func Resolver() resolver.SchemaResolver {
	return &lazyResolver{load: sync.OnceValues(loadResolver)}
}

type lazyResolver struct {
	load func() (*resolver.DefinitionsSchemaResolver, error)
	// resolved caches schemas by kind: resolving copies every nested object
	// schema (a Deployment is milliseconds and megabytes of garbage), and a
	// type checker asks for the same few kinds over and over. It holds at
	// most one entry per built-in kind.
	resolved sync.Map // schema.GroupVersionKind → *spec.Schema
}

func (r *lazyResolver) ResolveSchema(gvk schema.GroupVersionKind) (*spec.Schema, error) {
	if s, ok := r.resolved.Load(gvk); ok {
		return s.(*spec.Schema), nil
	}
	res, err := r.load()
	if err != nil {
		return nil, err
	}
	s, err := res.ResolveSchema(gvk)
	if err != nil {
		return nil, err
	}
	actual, _ := r.resolved.LoadOrStore(gvk, s)
	return actual.(*spec.Schema), nil
}

func loadResolver() (*resolver.DefinitionsSchemaResolver, error) {
	var defs map[string]spec.Schema
	if err := decode(definitionsGz, &defs); err != nil {
		return nil, fmt.Errorf("k8sschema: embedded OpenAPI definitions: %w", err)
	}
	openAPI := make(map[string]common.OpenAPIDefinition, len(defs))
	for name, s := range defs {
		openAPI[name] = common.OpenAPIDefinition{Schema: s}
	}
	// The references in the data are already definition names, which is
	// what the callback would produce.
	get := func(common.ReferenceCallback) map[string]common.OpenAPIDefinition { return openAPI }
	return resolver.NewDefinitionsSchemaResolver(get, k8sscheme.Scheme, apiextensionsscheme.Scheme), nil
}

// RESTMapper returns a mapper between the kinds and resources Kubernetes
// serves built in, alpha and beta versions included, preferring each group's
// preferred version as a real cluster's discovery does. Loading errors
// (of the embedded data, so not expected) come back from its methods. It is
// safe for concurrent use.
func RESTMapper() meta.RESTMapper {
	return &lazyMapper{load: sync.OnceValues(loadMapper)}
}

func loadMapper() (meta.RESTMapper, error) {
	groups, err := Discovery()
	if err != nil {
		return nil, err
	}
	return restmapper.NewDiscoveryRESTMapper(groups), nil
}

// Discovery returns the embedded discovery data: every built-in API group
// with its versions and resources (subresources included), in the order the
// API server lists them. Each call decodes a fresh copy.
func Discovery() ([]*restmapper.APIGroupResources, error) {
	var groups []*restmapper.APIGroupResources
	if err := decode(discoveryGz, &groups); err != nil {
		return nil, fmt.Errorf("k8sschema: embedded discovery data: %w", err)
	}
	return groups, nil
}

func decode(gz []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// lazyMapper is a meta.RESTMapper that loads the embedded data on first use.
type lazyMapper struct {
	load func() (meta.RESTMapper, error)
}

func (m *lazyMapper) KindFor(resource schema.GroupVersionResource) (schema.GroupVersionKind, error) {
	rm, err := m.load()
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	return rm.KindFor(resource)
}

func (m *lazyMapper) KindsFor(resource schema.GroupVersionResource) ([]schema.GroupVersionKind, error) {
	rm, err := m.load()
	if err != nil {
		return nil, err
	}
	return rm.KindsFor(resource)
}

func (m *lazyMapper) ResourceFor(input schema.GroupVersionResource) (schema.GroupVersionResource, error) {
	rm, err := m.load()
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	return rm.ResourceFor(input)
}

func (m *lazyMapper) ResourcesFor(input schema.GroupVersionResource) ([]schema.GroupVersionResource, error) {
	rm, err := m.load()
	if err != nil {
		return nil, err
	}
	return rm.ResourcesFor(input)
}

func (m *lazyMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	rm, err := m.load()
	if err != nil {
		return nil, err
	}
	return rm.RESTMapping(gk, versions...)
}

func (m *lazyMapper) RESTMappings(gk schema.GroupKind, versions ...string) ([]*meta.RESTMapping, error) {
	rm, err := m.load()
	if err != nil {
		return nil, err
	}
	return rm.RESTMappings(gk, versions...)
}

func (m *lazyMapper) ResourceSingularizer(resource string) (string, error) {
	rm, err := m.load()
	if err != nil {
		return "", err
	}
	return rm.ResourceSingularizer(resource)
}
