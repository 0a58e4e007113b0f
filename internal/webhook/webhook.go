// Package webhook is mamori's admission webhook: it judges admission
// requests with the same built-in checks, Pod Security Standards
// evaluator, CEL policies and exceptions as `mamori scan config`, so the
// cluster's front door and a developer's CI agree. With
// ImageVerificationPolicies it also verifies the signatures and
// attestations of the images pods run (/validate), and can pin the
// verified tags to their digests (/mutate).
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	listersv1 "k8s.io/client-go/listers/core/v1"

	"github.com/mamori-dev/mamori/pkg/exception"
	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/imagepolicy"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/policy"
	"github.com/mamori-dev/mamori/pkg/source/manifest"
)

// maxReviewBytes bounds an AdmissionReview body: the API server's own
// request limit is 3 MiB, and a review carries the object and the old one.
const maxReviewBytes = 7 << 20

// Config is what the webhook judges with.
type Config struct {
	// Policies are the CEL policies (custom and built-in); each says its
	// own mode.
	Policies *policy.Set
	// Scanner runs the built-in Go checks and Pod Security Standards; nil
	// turns them off.
	Scanner *misconfig.Scanner
	// BuiltinMode is what a built-in finding at or above EnforceSeverity
	// does; findings below it warn. Off is not a mode: leave Scanner nil.
	BuiltinMode     policy.Mode
	EnforceSeverity finding.Severity
	// Exceptions are judged on each request's day, so an expired one stops
	// holding at midnight without a redeploy.
	Exceptions *exception.Set
	Now        func() time.Time
	// Images verifies container images against ImageVerificationPolicies
	// (pods, workloads' pod templates and ephemeral containers) and, on
	// /mutate, pins the verified tags of policies with mutateDigest to
	// their digests; nil turns both off. Its Timeout must stay below the
	// webhook configurations' timeoutSeconds; the handler also stops
	// verifying before the deadline the API server sends.
	Images *imagepolicy.Engine
	// Namespaces and ServiceAccounts are looked up in the cluster.
	Namespaces      policy.Namespaces
	ServiceAccounts misconfig.ServiceAccounts
	Log             *slog.Logger
	Metrics         *Metrics
}

// Handler serves /validate, /mutate, /healthz, /readyz and /metrics.
type Handler struct {
	cfg   Config
	eval  *policy.Evaluator
	ready atomic.Bool
	mux   *http.ServeMux
}

// New returns a handler; it reports ready once SetReady is called.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.BuiltinMode == "" {
		cfg.BuiltinMode = policy.Enforce
	}
	if cfg.EnforceSeverity == finding.Unknown {
		cfg.EnforceSeverity = finding.High
	}
	if cfg.Policies == nil {
		cfg.Policies, _ = policy.NewSet(policy.Options{})
	}
	h := &Handler{cfg: cfg, eval: cfg.Policies.NewEvaluator(cfg.Namespaces, nil)}
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /validate", h.validate)
	h.mux.HandleFunc("POST /mutate", h.mutate)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	h.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.ready.Load() {
			http.Error(w, "not ready: namespace cache not synced", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	h.mux.Handle("GET /metrics", cfg.Metrics.Handler())
	return h
}

// SetReady marks the handler ready to serve admission requests.
func (h *Handler) SetReady() { h.ready.Store(true) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) validate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	review, ok := h.readReview(w, r)
	if !ok {
		return
	}
	req := review.Request
	ctx, cancel := requestContext(r)
	defer cancel()
	resp, decision := h.Review(ctx, req)
	h.respond(w, review, resp)
	dry := req.DryRun != nil && *req.DryRun
	h.cfg.Metrics.observe(string(req.Operation), req.Kind.Kind, decision, dry, time.Since(start))
}

// readReview decodes an AdmissionReview request, or answers 400 saying
// what is wrong with it.
func (h *Handler) readReview(w http.ResponseWriter, r *http.Request) (*admissionv1.AdmissionReview, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		h.badRequest(w, fmt.Sprintf("content type %q: want application/json", ct))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBytes))
	if err != nil {
		h.badRequest(w, fmt.Sprintf("read body: %v", err))
		return nil, false
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		h.badRequest(w, fmt.Sprintf("decode AdmissionReview: %v", err))
		return nil, false
	}
	if review.Request == nil {
		h.badRequest(w, "AdmissionReview has no request")
		return nil, false
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		h.badRequest(w, fmt.Sprintf("got %s %s: want admission.k8s.io/v1 AdmissionReview", review.APIVersion, review.Kind))
		return nil, false
	}
	req := review.Request
	for what, raw := range map[string][]byte{"object": req.Object.Raw, "oldObject": req.OldObject.Raw, "options": req.Options.Raw} {
		// Unmarshal has validated the JSON; it must also be an object.
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] != '{' {
			h.badRequest(w, fmt.Sprintf("request.%s is not a JSON object", what))
			return nil, false
		}
	}
	return &review, true
}

// respond writes the response to a review.
func (h *Handler) respond(w http.ResponseWriter, review *admissionv1.AdmissionReview, resp *admissionv1.AdmissionResponse) {
	resp.UID = review.Request.UID
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		h.cfg.Log.Error("write admission response", "uid", review.Request.UID, "err", err)
	}
}

// requestContext bounds a review by the deadline the API server sends in
// the timeout parameter, less a margin to write the answer: a registry
// that hangs then ends in the image policy's failurePolicy, not in the
// webhook configuration's.
func requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	t, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil || t <= 0 {
		return context.WithCancel(r.Context())
	}
	return context.WithTimeout(r.Context(), t-min(time.Second, t/4))
}

func (h *Handler) badRequest(w http.ResponseWriter, msg string) {
	h.cfg.Metrics.malformed.Inc()
	h.cfg.Log.Warn("malformed admission request", "err", msg)
	http.Error(w, msg, http.StatusBadRequest)
}

// Judgement is what the webhook found on one request, before it is
// turned into a response.
type Judgement struct {
	Deny, Warn, Audit []finding.Finding
	Suppressed        []finding.Suppression
	AuditAnnotations  map[string]string
	Errors            []finding.Problem
}

// Judge evaluates one admission request.
func (h *Handler) Judge(ctx context.Context, req *admissionv1.AdmissionRequest) (*Judgement, error) {
	j := &Judgement{}
	preq, obj, err := h.request(req)
	if err != nil {
		return nil, err
	}
	verdicts, err := h.eval.Evaluate(ctx, preq)
	if err != nil {
		return nil, err
	}
	rep := &finding.Report{}
	modes := map[string]policy.Mode{}
	for _, v := range verdicts {
		modes[v.Policy.ID()] = v.Policy.Mode
		for k, val := range v.AuditAnnotations {
			if j.AuditAnnotations == nil {
				j.AuditAnnotations = map[string]string{}
			}
			j.AuditAnnotations[auditKey(k)] = val
		}
	}
	if obj != nil {
		rep.Findings = append(rep.Findings, policy.Findings(obj, verdicts)...)
		if h.cfg.Scanner != nil && preq.Operation != admission.Delete && preq.Operation != admission.Connect && preq.SubResource == "" {
			found, problems := h.cfg.Scanner.CheckObject(obj, h.cfg.ServiceAccounts)
			rep.Findings = append(rep.Findings, found...)
			j.Errors = append(j.Errors, problems...)
		}
	} else {
		// DELETE and CONNECT have no object: violations have no location.
		for _, v := range verdicts {
			for _, vi := range v.Violations {
				rep.Findings = append(rep.Findings, finding.Finding{Rule: v.Policy.Rule, Message: vi.Message,
					Resource: finding.Resource{Kind: req.Kind.Kind, Namespace: req.Namespace, Name: req.Name}})
			}
		}
	}
	// Image verification: its denials are findings under each policy's
	// rule, so exceptions and modes apply to them as to every other check.
	var ignored map[string]bool
	if obj != nil && h.cfg.Images != nil && judgesImages(req) {
		var old map[string]any
		if preq.OldObject != nil {
			old = preq.OldObject.Object
		}
		res := obj.Resource()
		if res.Namespace == "" {
			res.Namespace = req.Namespace
		}
		ij, err := h.judgeImages(ctx, req, res, obj.Data(), old)
		if err != nil {
			j.Errors = append(j.Errors, finding.Problem{Message: err.Error()})
		}
		if ij != nil {
			for id, m := range ij.modes {
				modes[id] = m
			}
			rep.Findings = append(rep.Findings, ij.findings...)
			rep.Findings = append(rep.Findings, ij.ignored...)
			for _, f := range ij.ignored {
				if ignored == nil {
					ignored = map[string]bool{}
				}
				ignored[f.Fingerprint] = true
			}
			if len(ij.verified) > 0 {
				if j.AuditAnnotations == nil {
					j.AuditAnnotations = map[string]string{}
				}
				j.AuditAnnotations[verifiedAnnotation] = strings.Join(ij.verified, "; ")
			}
		}
	}
	if h.cfg.Exceptions != nil {
		h.cfg.Exceptions.Apply(rep, h.cfg.Now())
	}
	j.Suppressed = rep.Suppressed
	for _, f := range rep.Findings {
		mode, custom := modes[f.CheckID()]
		if ignored[f.Fingerprint] {
			// Admitted by failurePolicy Ignore: said, never denied.
			mode, custom = policy.Warn, true
		}
		if !custom {
			mode = h.cfg.BuiltinMode
			if f.Severity() < h.cfg.EnforceSeverity && mode == policy.Enforce {
				mode = policy.Warn
			}
		}
		switch mode {
		case policy.Enforce:
			j.Deny = append(j.Deny, f)
		case policy.Warn:
			j.Warn = append(j.Warn, f)
		default:
			j.Audit = append(j.Audit, f)
		}
	}
	return j, nil
}

// Review judges one admission request and says what it decided: allowed,
// denied or error.
func (h *Handler) Review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	j, err := h.Judge(ctx, req)
	if err != nil {
		h.cfg.Log.Error("admission request not judged", "uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "err", err)
		// The configuration's failurePolicy decides what an error means.
		return &admissionv1.AdmissionResponse{Allowed: false, Result: statusError(500, "InternalError", "mamori could not judge the request: "+err.Error())}, "error"
	}
	if len(j.Errors) > 0 {
		// Part of the object could not be read by the built-in checks (a
		// scan calls that an input error): say which field, and let the
		// failure policy decide, as for any other error.
		var msgs []string
		for _, p := range j.Errors {
			msgs = append(msgs, p.Message)
		}
		h.cfg.Log.Warn("admission request not judged", "uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "problems", msgs)
		return &admissionv1.AdmissionResponse{Allowed: false, Result: statusError(500, "InternalError",
			"mamori could not judge the request: "+strings.Join(msgs, "; "))}, "error"
	}
	resp := &admissionv1.AdmissionResponse{Allowed: len(j.Deny) == 0, AuditAnnotations: j.AuditAnnotations}
	for _, f := range j.Warn {
		resp.Warnings = append(resp.Warnings, warning(f))
		h.cfg.Metrics.warnings.WithLabelValues(f.CheckID()).Inc()
	}
	for _, f := range j.Audit {
		if resp.AuditAnnotations == nil {
			resp.AuditAnnotations = map[string]string{}
		}
		key := auditKey(f.CheckID())
		if prev, ok := resp.AuditAnnotations[key]; ok {
			resp.AuditAnnotations[key] = prev + "; " + f.Message
		} else {
			resp.AuditAnnotations[key] = f.Message
		}
		h.cfg.Metrics.audits.WithLabelValues(f.CheckID()).Inc()
	}
	if len(j.Suppressed) > 0 {
		if resp.AuditAnnotations == nil {
			resp.AuditAnnotations = map[string]string{}
		}
		var refs []string
		for _, s := range j.Suppressed {
			refs = append(refs, fmt.Sprintf("%s by %s:%d (owner %s, expires %s)", s.Finding.CheckID(), s.Exception.File, s.Exception.Line, s.Exception.Owner, s.Exception.Expires))
		}
		slices.Sort(refs)
		resp.AuditAnnotations["excepted"] = strings.Join(slices.Compact(refs), "; ")
	}
	if len(j.Deny) == 0 {
		return resp, "allowed"
	}
	seen := map[string]bool{}
	var parts []string
	for _, f := range j.Deny {
		h.cfg.Metrics.denials.WithLabelValues(f.CheckID()).Inc()
		msg := fmt.Sprintf("[%s] %s", f.CheckID(), f.Message)
		if !seen[msg] {
			seen[msg] = true
			parts = append(parts, msg)
		}
	}
	what := req.Kind.Kind + " " + req.Name
	if req.Namespace != "" {
		what = req.Kind.Kind + " " + req.Namespace + "/" + req.Name
	}
	resp.Result = statusError(403, "Forbidden", fmt.Sprintf("mamori denied %s: %s", what, strings.Join(parts, "; ")))
	return resp, "denied"
}

// request converts an admission request into the policy engine's form and
// the object into a manifest object for the built-in checks.
func (h *Handler) request(req *admissionv1.AdmissionRequest) (*policy.Request, *manifest.Object, error) {
	preq := &policy.Request{
		Operation:   admission.Operation(req.Operation),
		Kind:        schema.GroupVersionKind(req.Kind),
		Resource:    schema.GroupVersionResource(req.Resource),
		SubResource: req.SubResource, Namespace: req.Namespace, Name: req.Name,
		DryRun: req.DryRun != nil && *req.DryRun,
	}
	extra := map[string][]string{}
	for k, v := range req.UserInfo.Extra {
		extra[k] = v
	}
	preq.UserInfo = &user.DefaultInfo{Name: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups, Extra: extra}
	decode := func(raw []byte, what string) (*unstructured.Unstructured, error) {
		if len(raw) == 0 {
			return nil, nil
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return u, nil
	}
	var err error
	if preq.OldObject, err = decode(req.OldObject.Raw, "oldObject"); err != nil {
		return nil, nil, err
	}
	if preq.Options, err = decode(req.Options.Raw, "options"); err != nil {
		return nil, nil, err
	}
	if len(req.Object.Raw) == 0 {
		return preq, nil, nil
	}
	// One parse serves both the policies (as unstructured data) and the
	// built-in checks (as a located object).
	name := fmt.Sprintf("admission:%s/%s", req.Resource.Resource, req.Name)
	parsed := manifest.Parse(name, req.Object.Raw)
	if len(parsed.Errors) > 0 {
		return nil, nil, fmt.Errorf("object: %s", parsed.Errors[0].Message)
	}
	if len(parsed.Objects) != 1 {
		if preq.Object, err = decode(req.Object.Raw, "object"); err != nil {
			return nil, nil, err
		}
		return preq, nil, nil
	}
	obj := parsed.Objects[0]
	preq.Object = &unstructured.Unstructured{Object: obj.Data()}
	if preq.Operation == admission.Delete {
		return preq, nil, nil
	}
	return preq, obj, nil
}

// auditKey makes a valid audit annotation key (a qualified name without
// prefix: the API server prefixes it with the webhook's name).
func auditKey(k string) string {
	k = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '.'
	}, k)
	if len(k) > 63 {
		k = k[:63]
	}
	return strings.Trim(k, "-_.")
}

// warning renders a finding as an admission warning: the API server
// truncates long ones, so it is short.
func warning(f finding.Finding) string {
	w := fmt.Sprintf("[%s] %s", f.CheckID(), f.Message)
	if len(w) > 240 {
		w = w[:237] + "..."
	}
	return w
}

// ServiceAccountsFrom looks service accounts up in a lister.
func ServiceAccountsFrom(l listersv1.ServiceAccountLister) misconfig.ServiceAccounts {
	return func(namespace, name string) (*bool, bool) {
		sa, err := l.ServiceAccounts(namespace).Get(name)
		if err != nil {
			return nil, false
		}
		return sa.AutomountServiceAccountToken, true
	}
}
