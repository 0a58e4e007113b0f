package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
)

// Audit annotation keys (the API server prefixes them with the webhook's
// name).
const (
	verifiedAnnotation = "image-verified"
	pinnedAnnotation   = "image-pinned"
)

// patchOp is one RFC 6902 JSON patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

func (h *Handler) mutate(w http.ResponseWriter, r *http.Request) {
	review, ok := h.readReview(w, r)
	if !ok {
		return
	}
	ctx, cancel := requestContext(r)
	defer cancel()
	resp := h.Mutate(ctx, review.Request)
	h.respond(w, review, resp)
}

// Mutate answers a mutating admission request: it pins each image that an
// ImageVerificationPolicy with mutateDigest verified from its tag to its
// digest (registry/repo:tag becomes registry/repo@sha256:…, the repository
// kept as written), so that what runs is what was verified even if the tag
// moves. It never denies: the validating webhook decides, and finds the
// pinned images' verdicts in the cache.
func (h *Handler) Mutate(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{Allowed: true}
	if h.cfg.Images == nil || !judgesImages(req) || len(req.Object.Raw) == 0 {
		return resp
	}
	ops, pinned, err := h.pins(ctx, req)
	switch {
	case err != nil:
		// Unreadable containers: the validating webhook says so; here the
		// request goes on unchanged.
		h.cfg.Log.Warn("mutate: object not read", "uid", req.UID, "kind", req.Kind.Kind, "namespace", req.Namespace, "name", req.Name, "err", err)
		h.cfg.Metrics.mutations.WithLabelValues(req.Kind.Kind, "error").Inc()
		return resp
	case len(ops) == 0:
		h.cfg.Metrics.mutations.WithLabelValues(req.Kind.Kind, "unchanged").Inc()
		return resp
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		h.cfg.Metrics.mutations.WithLabelValues(req.Kind.Kind, "error").Inc()
		return resp
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	resp.AuditAnnotations = map[string]string{pinnedAnnotation: strings.Join(pinned, "; ")}
	h.cfg.Metrics.mutations.WithLabelValues(req.Kind.Kind, "patched").Inc()
	return resp
}

// pins returns the patch pinning the request's verified images, and what
// it pins for the audit annotation.
func (h *Handler) pins(ctx context.Context, req *admissionv1.AdmissionRequest) ([]patchOp, []string, error) {
	var obj, old map[string]any
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return nil, nil, fmt.Errorf("object: %w", err)
	}
	if len(req.OldObject.Raw) > 0 {
		// An old object that does not decode only means every image is
		// treated as new.
		_ = json.Unmarshal(req.OldObject.Raw, &old)
	}
	imgs, err := newImages(req, obj, old)
	if err != nil {
		return nil, nil, err
	}
	// Images already naming a digest stay as written, x:tag@sha256:…
	// included.
	var tagged []containerImage
	for _, c := range imgs {
		if !strings.Contains(c.Image, "@") {
			tagged = append(tagged, c)
		}
	}
	if len(tagged) == 0 {
		return nil, nil, nil
	}
	digests := map[string]string{}
	for _, d := range h.checkImages(ctx, "mutate", uniqueImages(tagged)) {
		if d.Pin != "" && d.Digest != "" {
			digests[d.Image] = d.Digest
		}
	}
	var ops []patchOp
	var pinned []string
	for _, c := range tagged {
		digest, ok := digests[c.Image]
		if !ok {
			continue
		}
		to := pinnedRef(c.Image, digest)
		ops = append(ops, patchOp{Op: "replace", Path: c.Pointer, Value: to})
		pinned = append(pinned, c.Path+": "+c.Image+" -> "+to)
	}
	return ops, pinned, nil
}

// pinnedRef replaces the tag of image (a reference without a digest) with
// the digest, keeping the registry and repository exactly as written:
// "nginx:1.27" becomes "nginx@sha256:…", "localhost:5000/app" becomes
// "localhost:5000/app@sha256:…".
func pinnedRef(image, digest string) string {
	repo := image
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		repo = image[:i]
	}
	return repo + "@" + digest
}
