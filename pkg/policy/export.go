package policy

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/mamori-dev/mamori/pkg/exception"
)

// ExportOptions configure an export to native admission objects.
type ExportOptions struct {
	// Exceptions are folded into the policies where VAP can express them.
	Exceptions *exception.Set
	// Now is the day exceptions are judged on.
	Now time.Time
	// ParamsNamespace is where params objects of namespaced kinds go.
	ParamsNamespace string
}

// Export is what an export produced.
type Export struct {
	// Objects are ValidatingAdmissionPolicies, their bindings and params
	// objects, in apply order per policy.
	Objects []runtime.Object
	// Notes say, per policy, what could not be carried over and what the
	// cluster will therefore judge differently. Never empty-handed: a
	// policy with nothing to say has no note.
	Notes []ExportNote
}

// ExportNote is one thing an export could not carry over.
type ExportNote struct {
	Policy  string
	Message string
}

// Labels and annotations exported objects carry.
const (
	ManagedByLabel      = "app.kubernetes.io/managed-by"
	annotationPrefix    = "mamori.dev/"
	ExpiresAnnotation   = annotationPrefix + "exceptions-expire"
	SeverityAnnotation  = annotationPrefix + "severity"
	ModeAnnotation      = annotationPrefix + "mode"
	ExceptionAnnotation = annotationPrefix + "exceptions"
)

// ExportVAP writes the set as ValidatingAdmissionPolicy and
// ValidatingAdmissionPolicyBinding objects: validationActions from each
// policy's mode, params as objects the bindings refer to, live exceptions
// as matchConditions. Anything that cannot be expressed is a note.
func (s *Set) ExportVAP(opts ExportOptions) *Export {
	if opts.ParamsNamespace == "" {
		opts.ParamsNamespace = "mamori-system"
	}
	out := &Export{}
	for _, p := range s.Policies {
		s.exportOne(p, opts, out)
	}
	return out
}

func (s *Set) exportOne(p *Policy, opts ExportOptions, out *Export) {
	note := func(format string, args ...any) {
		out.Notes = append(out.Notes, ExportNote{Policy: p.ID(), Message: fmt.Sprintf(format, args...)})
	}
	spec := *p.Spec.DeepCopy()
	labels := map[string]string{ManagedByLabel: "mamori"}
	annotations := map[string]string{SeverityAnnotation: p.Rule.Severity.String(), ModeAnnotation: string(p.Mode)}
	var exprs, refs []string
	earliest := time.Time{}
	if opts.Exceptions != nil {
		for _, e := range opts.Exceptions.Entries {
			if ok, _ := path.Match(e.Check, p.ID()); !ok {
				continue
			}
			where := fmt.Sprintf("%s:%d", e.File, e.Line)
			switch {
			case e.Expired(opts.Now):
				note("exception %s (owner %s) expired on %s: not exported, so the cluster enforces the policy", where, e.Owner, e.Expires.Format(time.DateOnly))
				continue
			case len(e.Paths) > 0:
				note("exception %s (owner %s) is limited to file paths %s, which admission cannot see: not exported, so the cluster enforces the policy on those resources",
					where, e.Owner, strings.Join(e.Paths, ", "))
				continue
			case len(e.Fingerprints)+len(e.Packages)+len(e.PURLs)+len(e.Images) > 0:
				// Those narrow an entry to findings of files, packages or
				// images: exported without them, it would exempt every object.
				note("exception %s (owner %s) is limited to fingerprints, packages or images, which admission cannot see: not exported", where, e.Owner)
				continue
			case e.Scoped():
				note("exception %s (owner %s) holds only for files under %s, which admission cannot see: not exported, so the cluster enforces the policy on those resources; use --ignorefile for exceptions meant for the cluster",
					where, e.Owner, e.Base())
				continue
			}
			expr := exceptionCondition(e)
			exprs = append(exprs, expr)
			refs = append(refs, where)
			if earliest.IsZero() || e.Expires.Before(earliest) {
				earliest = e.Expires
			}
			note("exception %s (owner %s) exported as matchCondition %q; ValidatingAdmissionPolicy cannot read the date, so it holds in the cluster until re-exported after it expires on %s",
				where, e.Owner, "mamori-exceptions", e.Expires.Format(time.DateOnly))
		}
	}
	if len(exprs) > 0 {
		spec.MatchConditions = append(spec.MatchConditions, admissionregistrationv1.MatchCondition{
			Name: "mamori-exceptions", Expression: "!(" + strings.Join(exprs, " || ") + ")",
		})
		annotations[ExpiresAnnotation] = earliest.Format(time.DateOnly)
		annotations[ExceptionAnnotation] = strings.Join(refs, ",")
	}
	for i, v := range spec.Validations {
		if v.MessageExpression == "" && v.Message == "" {
			spec.Validations[i].Message = p.Rule.Title
		}
	}
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: p.ID(), Labels: labels, Annotations: annotations},
		Spec:       spec,
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: p.ID(), Labels: labels},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: p.ID(), ValidationActions: p.Mode.ValidationActions(),
		},
	}
	out.Objects = append(out.Objects, vap)
	if p.Params != nil {
		params := p.Params.DeepCopy()
		name := p.ID() + "-params"
		params.SetName(name)
		params.SetLabels(labels)
		_, namespaced := ResourceFor(s.Mapper(), paramsGVK(p.Spec.ParamKind))
		deny := admissionregistrationv1.DenyAction
		ref := &admissionregistrationv1.ParamRef{Name: name, ParameterNotFoundAction: &deny}
		if namespaced {
			params.SetNamespace(opts.ParamsNamespace)
			ref.Namespace = opts.ParamsNamespace
		}
		binding.Spec.ParamRef = ref
		out.Objects = append(out.Objects, params)
	}
	out.Objects = append(out.Objects, binding)
}

// exceptionCondition is a CEL condition true for the requests an
// exception covers.
func exceptionCondition(e *exception.Entry) string {
	if len(e.Resources) == 0 {
		return "true"
	}
	var alts []string
	for _, sel := range e.Resources {
		var terms []string
		if t := globCondition("request.kind.kind", sel.Kind); t != "" {
			terms = append(terms, t)
		}
		if t := globCondition("request.namespace", sel.Namespace); t != "" {
			terms = append(terms, t)
		}
		if t := globCondition("request.name", sel.Name); t != "" {
			terms = append(terms, t)
		}
		if len(terms) == 0 {
			return "true"
		}
		alts = append(alts, "("+strings.Join(terms, " && ")+")")
	}
	return strings.Join(alts, " || ")
}

// globCondition matches a field against a path.Match glob, as exceptions
// match in scans.
func globCondition(field, glob string) string {
	if glob == "" || glob == "*" {
		return ""
	}
	if !strings.ContainsAny(glob, `*?[\`) {
		return field + " == " + strconv.Quote(glob)
	}
	return field + ".matches(" + strconv.Quote(globRegexp(glob)) + ")"
}

// globRegexp translates a path.Match glob (no '/' in names) to RE2.
func globRegexp(g string) string {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(g[i:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := g[i+1 : i+j]
			if strings.HasPrefix(class, "^") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		case '\\':
			if i+1 < len(g) {
				i++
				b.WriteString(regexp.QuoteMeta(string(g[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String()
}

// YAML writes the export as a multi-document YAML stream, its notes as
// comments at the top.
func (x *Export) YAML() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Generated by mamori policy export --format vap.\n")
	if len(x.Notes) > 0 {
		buf.WriteString("# What this export could not carry over, per policy:\n")
		notes := slices.Clone(x.Notes)
		slices.SortStableFunc(notes, func(a, b ExportNote) int { return strings.Compare(a.Policy, b.Policy) })
		for _, n := range notes {
			buf.WriteString("#   " + n.Policy + ": " + strings.ReplaceAll(n.Message, "\n", " ") + "\n")
		}
	}
	for _, o := range x.Objects {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		delete(m, "status")
		if md, ok := m["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		b, err := yaml.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes(), nil
}
