package policy

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// ScanUser is who a scan's requests come from: an authenticated user who
// is no system component, as a person or a CD pipeline applying manifests
// would be. Policies that judge users see a user, not an absent field.
var ScanUser user.Info = &user.DefaultInfo{Name: "mamori:scan", Groups: []string{"system:authenticated"}}

// ObjectRequest is the request a scan judges a manifest object by: its
// CREATE by ScanUser. A namespaced object without a namespace is
// created in "default", as `kubectl apply` without -n does.
func ObjectRequest(o *manifest.Object, mapper meta.RESTMapper) *Request {
	gv, _ := schema.ParseGroupVersion(o.APIVersion())
	gvk := gv.WithKind(o.Kind())
	gvr, namespaced := ResourceFor(mapper, gvk)
	ns := ""
	if namespaced {
		ns = o.Namespace()
		if ns == "" {
			ns = "default"
		}
	}
	return &Request{
		Operation: admission.Create, Kind: gvk, Resource: gvr, Namespace: ns, Name: o.Name(),
		Object: unstructuredOf(o.Data()), UserInfo: ScanUser,
	}
}

// Findings turns verdicts on an object into findings located in it: each
// violation at its validation's path.
func Findings(o *manifest.Object, verdicts []Verdict) []finding.Finding {
	var out []finding.Finding
	res := o.Resource()
	for _, v := range verdicts {
		for _, vi := range v.Violations {
			path := ""
			if vi.Validation >= 0 && vi.Validation < len(v.Policy.Paths) {
				path = v.Policy.Paths[vi.Validation]
			}
			msg := vi.Message
			if vi.Error {
				msg = "policy could not be evaluated (failurePolicy Fail): " + msg
			}
			loc := o.Location(path)
			out = append(out, finding.Finding{
				Rule: v.Policy.Rule, Message: msg, Resource: res, Location: loc,
				Fingerprint: finding.ComputeFingerprint(v.Policy.ID(), loc.File, res, path),
			})
		}
	}
	return out
}
