package imagepolicy

import (
	"fmt"
	"strings"

	"github.com/mamori-dev/mamori/pkg/finding"
)

// Findings turns the denials among decisions into findings about res, the
// object whose field at path names the images. Each finding's Rule is its
// policy's, so exceptions apply by policy name as for every other check;
// the caller applies the policy's Mode.
func Findings(res finding.Resource, path string, decisions []Decision) []finding.Finding {
	var out []finding.Finding
	for _, d := range decisions {
		if d.Allowed || d.Policy == nil {
			continue
		}
		img := d.Image
		if d.Digest != "" && !strings.Contains(img, d.Digest) {
			img += " (" + d.Digest + ")"
		}
		out = append(out, finding.Finding{
			Rule:        d.Policy.Rule,
			Message:     fmt.Sprintf("image %s: %s", img, strings.Join(d.Reasons, "; ")),
			Resource:    res,
			Location:    finding.Location{Path: path},
			Fingerprint: finding.ComputeFingerprint(d.Policy.ID(), "", res, path),
		})
	}
	return out
}
