package webhook

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/mamori-dev/mamori/pkg/finding"
	"github.com/mamori-dev/mamori/pkg/imagepolicy"
	"github.com/mamori-dev/mamori/pkg/misconfig"
	"github.com/mamori-dev/mamori/pkg/policy"
)

// containerFields are the pod spec's container lists, in the order the
// kubelet starts them.
var containerFields = []string{"initContainers", "containers", "ephemeralContainers"}

// containerImage is the image of one container of an object.
type containerImage struct {
	Image string
	// Path is the field as findings name it
	// (spec.template.spec.containers[0].image); Pointer is the same field
	// as a JSON pointer (RFC 6901) for patches.
	Path, Pointer string
}

// imagesOf lists the image of every init, regular and ephemeral container
// of the pod spec in obj, an object of group/kind. Kinds without a pod spec
// have none; a pod spec whose containers cannot be read is an error naming
// the field.
func imagesOf(group, kind string, obj map[string]any) ([]containerImage, error) {
	path, ok := misconfig.PodSpecPath(group, kind)
	if !ok || obj == nil {
		return nil, nil
	}
	segs := strings.Split(path, ".")
	var cur any = obj
	for i, s := range segs {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not an object", strings.Join(segs[:i], "."))
		}
		if cur, ok = m[s]; !ok || cur == nil {
			// No pod spec (a status-only object, a template yet to be
			// defaulted): no images.
			return nil, nil
		}
	}
	spec, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not an object", strings.Join(segs, "."))
	}
	var out []containerImage
	for _, field := range containerFields {
		raw, ok := spec[field]
		if !ok || raw == nil {
			continue
		}
		list, ok := raw.([]any)
		if !ok {
			return nil, fmt.Errorf("%s.%s: not a list", strings.Join(segs, "."), field)
		}
		for i, c := range list {
			path := fmt.Sprintf("%s.%s[%d].image", strings.Join(segs, "."), field, i)
			m, ok := c.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: not an object", strings.TrimSuffix(path, ".image"))
			}
			img, ok := m["image"].(string)
			if !ok {
				if m["image"] == nil {
					// Validation rejects an empty image later; nothing to
					// verify here.
					continue
				}
				return nil, fmt.Errorf("%s: not a string", path)
			}
			if img == "" {
				continue
			}
			ptr := make([]string, 0, len(segs)+3)
			ptr = append(ptr, segs...)
			ptr = append(ptr, field, strconv.Itoa(i), "image")
			out = append(out, containerImage{Image: img, Path: path, Pointer: jsonPointer(ptr...)})
		}
	}
	return out, nil
}

// jsonPointer joins segments into an RFC 6901 JSON pointer, escaping "~"
// and "/" in each.
func jsonPointer(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		if strings.ContainsAny(s, "~/") {
			s = strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
		}
		b.WriteString(s)
	}
	return b.String()
}

// judgesImages reports whether the request carries containers whose
// images are verified: pods and workloads created or updated, and the
// ephemeral containers `kubectl debug` adds through the pods'
// ephemeralcontainers subresource.
func judgesImages(req *admissionv1.AdmissionRequest) bool {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return false
	}
	switch req.SubResource {
	case "":
		return true
	case "ephemeralcontainers":
		return req.Kind.Group == "" && req.Kind.Kind == "Pod"
	}
	return false
}

// newImages returns the images of the request's object to verify: all of
// them on CREATE, on UPDATE only those the old object does not already
// run, so that an update that leaves the images alone (a label, a
// finalizer removed, a scale) is never refused because an image admitted
// earlier, or before a policy existed, no longer verifies.
func newImages(req *admissionv1.AdmissionRequest, obj, old map[string]any) ([]containerImage, error) {
	imgs, err := imagesOf(req.Kind.Group, req.Kind.Kind, obj)
	if err != nil || len(imgs) == 0 || req.Operation != admissionv1.Update || old == nil {
		return imgs, err
	}
	before, _ := imagesOf(req.Kind.Group, req.Kind.Kind, old)
	out := imgs[:0:0]
	for _, c := range imgs {
		if !slices.ContainsFunc(before, func(o containerImage) bool { return o.Image == c.Image }) {
			out = append(out, c)
		}
	}
	return out, nil
}

// uniqueImages returns each image once, in first-seen order.
func uniqueImages(imgs []containerImage) []string {
	out := make([]string, 0, len(imgs))
	for _, c := range imgs {
		if !slices.Contains(out, c.Image) {
			out = append(out, c.Image)
		}
	}
	return out
}

// checkImages verifies images with the engine within the request's time
// budget, and counts the verifications.
func (h *Handler) checkImages(ctx context.Context, endpoint string, images []string) []imagepolicy.Decision {
	start := time.Now()
	decisions := h.cfg.Images.Check(ctx, images)
	h.cfg.Metrics.observeImages(endpoint, decisions, time.Since(start))
	return decisions
}

// imageJudgement is what image verification found on one object.
type imageJudgement struct {
	// findings are the denials, each under its policy's rule.
	findings []finding.Finding
	// ignored are registry errors the policy's failurePolicy Ignore
	// admitted: they are warned about whatever the policy's mode.
	ignored []finding.Finding
	// verified says what verified, for the audit annotation.
	verified []string
	modes    map[string]policy.Mode
}

// judgeImages verifies the images of the request's object.
func (h *Handler) judgeImages(ctx context.Context, req *admissionv1.AdmissionRequest, res finding.Resource, obj, old map[string]any) (*imageJudgement, error) {
	imgs, err := newImages(req, obj, old)
	if err != nil || len(imgs) == 0 {
		return nil, err
	}
	decisions := h.checkImages(ctx, "validate", uniqueImages(imgs))
	if len(decisions) == 0 {
		return nil, nil
	}
	ij := &imageJudgement{modes: map[string]policy.Mode{}}
	byImage := map[string][]imagepolicy.Decision{}
	for _, d := range decisions {
		byImage[d.Image] = append(byImage[d.Image], d)
		ij.modes[d.Policy.ID()] = d.Policy.Mode
		switch {
		case d.Err != nil && d.Allowed:
			ij.ignored = append(ij.ignored, finding.Finding{Rule: d.Policy.Rule, Resource: res,
				Message: fmt.Sprintf("image %s admitted unverified: the registry could not be read (failurePolicy Ignore): %v", d.Image, d.Err)})
		case d.Allowed && len(d.Evidence) > 0:
			ij.verified = append(ij.verified, verifiedSummary(d))
		}
	}
	// One finding per container, so a finding points at the field to fix.
	for _, c := range imgs {
		ij.findings = append(ij.findings, imagepolicy.Findings(res, c.Path, byImage[c.Image])...)
	}
	for i := range ij.ignored {
		ij.ignored[i].Fingerprint = finding.ComputeFingerprint(ij.ignored[i].CheckID(), "", res, "registry-error:"+ij.ignored[i].Message)
	}
	slices.Sort(ij.verified)
	ij.verified = slices.Compact(ij.verified)
	return ij, nil
}

// maxEvidenceNote bounds the audit annotation of one verified image.
const maxEvidenceNote = 300

// verifiedSummary says briefly what verified an image: the policy, and for
// the first piece of evidence its kind, layout, authority, key or
// identity and transparency log index.
func verifiedSummary(d imagepolicy.Decision) string {
	ev := d.Evidence[0]
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s %s %s by %s", d.Image, shortDigest(d.Digest), d.Policy.ID(), ev.Layout, ev.Kind, ev.Authority)
	switch {
	case ev.Subject != "":
		fmt.Fprintf(&b, " identity %s (issuer %s)", ev.Subject, ev.Issuer)
	case ev.KeyID != "":
		fmt.Fprintf(&b, " key %s", shortHex(ev.KeyID))
	}
	for _, l := range ev.Log {
		fmt.Fprintf(&b, " log index %d", l.Index)
		break
	}
	if n := len(d.Evidence); n > 1 {
		fmt.Fprintf(&b, " (+%d more)", n-1)
	}
	if d.Cached {
		b.WriteString(" [cached]")
	}
	s := b.String()
	if len(s) > maxEvidenceNote {
		s = s[:maxEvidenceNote-3] + "..."
	}
	return s
}

func shortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok {
		return d
	}
	return alg + ":" + shortHex(hex)
}

func shortHex(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// imageResult is how a decision is counted: verified, denied or error.
func imageResult(d imagepolicy.Decision) string {
	switch {
	case d.Err != nil:
		return "error"
	case d.Allowed:
		return "verified"
	}
	return "denied"
}
