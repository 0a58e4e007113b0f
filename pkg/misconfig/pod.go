package misconfig

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// templatePaths says where each workload kind keeps its pod template. Keys
// are group/kind; extensions/v1beta1 and apps/v1beta* carried the same kinds
// before apps/v1.
var templatePaths = map[string]string{
	"/Pod":                   "",
	"/PodTemplate":           "template",
	"/ReplicationController": "spec.template",
	"apps/Deployment":        "spec.template",
	"apps/ReplicaSet":        "spec.template",
	"apps/StatefulSet":       "spec.template",
	"apps/DaemonSet":         "spec.template",
	"extensions/Deployment":  "spec.template",
	"extensions/ReplicaSet":  "spec.template",
	"extensions/DaemonSet":   "spec.template",
	"batch/Job":              "spec.template",
	"batch/CronJob":          "spec.jobTemplate.spec.template",
}

// PodSpecPath returns where an object of group/kind keeps its pod spec, as
// a dotted path ("spec.template.spec"; "spec" for a Pod), and whether the
// kind has one. The admission webhook reads images at the same place the
// checks read pods.
func PodSpecPath(group, kind string) (string, bool) {
	tp, ok := templatePaths[group+"/"+kind]
	if !ok {
		return "", false
	}
	if tp == "" {
		return "spec", true
	}
	return tp + ".spec", true
}

// pod is a pod template found in an object, decoded into the API types the
// official PSS evaluator takes.
type pod struct {
	obj  *manifest.Object
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
	// metaPath and specPath locate the template's metadata and spec in obj.
	metaPath, specPath string
	// batch is true for Jobs and CronJobs, whose pods run to completion.
	batch bool
	refs  []containerRef // built once by containers
}

// podOf returns the pod template of a workload object, nil if the object has
// none. A template that does not decode (a string where a list belongs) is an
// error naming the field.
func podOf(o *manifest.Object) (*pod, error) {
	tp, ok := templatePaths[o.Group()+"/"+o.Kind()]
	if !ok {
		return nil, nil
	}
	metaPath, specPath := "metadata", "spec"
	if tp != "" {
		metaPath, specPath = tp+".metadata", tp+".spec"
	}
	p := &pod{obj: o, meta: &metav1.ObjectMeta{}, spec: &corev1.PodSpec{}, metaPath: metaPath, specPath: specPath, batch: o.Group() == "batch"}
	if _, err := o.Decode(metaPath, p.meta); err != nil {
		return nil, err
	}
	found, err := o.Decode(specPath, p.spec)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, &manifest.FieldError{Path: specPath, Line: o.Line, Msg: "missing pod spec"}
	}
	return p, nil
}

// containerRef is one container of a pod with its field path.
type containerRef struct {
	c    *corev1.Container
	path string // e.g. spec.template.spec.containers[0]
	// field is "containers", "initContainers" or "ephemeralContainers".
	field string
	index int
}

// name renders how findings name the container.
func (r containerRef) name() string {
	switch r.field {
	case "initContainers":
		return "init container " + strconv.Quote(r.c.Name)
	case "ephemeralContainers":
		return "ephemeral container " + strconv.Quote(r.c.Name)
	}
	return "container " + strconv.Quote(r.c.Name)
}

// sidecar reports whether an init container is a restartable sidecar, which
// runs for the pod's whole life like a regular container.
func (r containerRef) sidecar() bool {
	return r.field == "initContainers" && r.c.RestartPolicy != nil && *r.c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// containers lists every container of the pod: init, regular, ephemeral.
// Every check walks them, so the list is built once; callers must not
// modify it.
func (p *pod) containers() []containerRef {
	if p.refs != nil {
		return p.refs
	}
	refs := make([]containerRef, 0, len(p.spec.InitContainers)+len(p.spec.Containers)+len(p.spec.EphemeralContainers))
	for i := range p.spec.InitContainers {
		refs = append(refs, containerRef{&p.spec.InitContainers[i], fmt.Sprintf("%s.initContainers[%d]", p.specPath, i), "initContainers", i})
	}
	for i := range p.spec.Containers {
		refs = append(refs, containerRef{&p.spec.Containers[i], fmt.Sprintf("%s.containers[%d]", p.specPath, i), "containers", i})
	}
	for i := range p.spec.EphemeralContainers {
		c := corev1.Container(p.spec.EphemeralContainers[i].EphemeralContainerCommon)
		refs = append(refs, containerRef{&c, fmt.Sprintf("%s.ephemeralContainers[%d]", p.specPath, i), "ephemeralContainers", i})
	}
	p.refs = refs
	return refs
}
