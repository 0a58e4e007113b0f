package source

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// gkeEntry is a Cloud Logging LogEntry whose protoPayload is a
// google.cloud.audit.AuditLog, as GKE writes its audit logs.
type gkeEntry struct {
	InsertID         string            `json:"insertId"`
	LogName          string            `json:"logName"`
	Timestamp        time.Time         `json:"timestamp"`
	ReceiveTimestamp time.Time         `json:"receiveTimestamp"`
	Labels           map[string]string `json:"labels"`
	Operation        *struct {
		ID string `json:"id"`
	} `json:"operation"`
	Resource struct {
		Type   string            `json:"type"`
		Labels map[string]string `json:"labels"`
	} `json:"resource"`
	ProtoPayload *struct {
		Type               string `json:"@type"`
		AuthenticationInfo struct {
			PrincipalEmail string `json:"principalEmail"`
		} `json:"authenticationInfo"`
		AuthorizationInfo []struct {
			Granted    bool   `json:"granted"`
			Permission string `json:"permission"`
			Resource   string `json:"resource"`
		} `json:"authorizationInfo"`
		MethodName      string `json:"methodName"`
		ResourceName    string `json:"resourceName"`
		ServiceName     string `json:"serviceName"`
		RequestMetadata struct {
			CallerIP                string `json:"callerIp"`
			CallerSuppliedUserAgent string `json:"callerSuppliedUserAgent"`
		} `json:"requestMetadata"`
		Status *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
		Request  map[string]json.RawMessage `json:"request"`
		Response map[string]json.RawMessage `json:"response"`
		Metadata map[string]any             `json:"metadata"`
	} `json:"protoPayload"`
}

const auditLogType = "type.googleapis.com/google.cloud.audit.AuditLog"

// gkeEntry converts one LogEntry to an audit event.
func (r *reader) gkeEntry(b []byte, line int) error {
	var le gkeEntry
	if err := json.Unmarshal(b, &le); err != nil {
		r.malformed(line, fmt.Errorf("GKE log entry: %w", err))
		return nil
	}
	if le.ProtoPayload == nil || le.ProtoPayload.Type != auditLogType {
		r.malformed(line, fmt.Errorf("GKE log entry %q has no %s protoPayload", le.InsertID, auditLogType))
		return nil
	}
	e, err := convertGKE(&le)
	if err != nil {
		r.malformed(line, fmt.Errorf("GKE log entry %q: %w", le.InsertID, err))
		return nil
	}
	return r.event(e, line)
}

func convertGKE(le *gkeEntry) (*audit.Event, error) {
	p := le.ProtoPayload
	e := &audit.Event{
		AuditID:                  le.InsertID,
		Stage:                    audit.StageResponseComplete,
		Level:                    audit.LevelMetadata,
		User:                     audit.UserInfo{Username: p.AuthenticationInfo.PrincipalEmail},
		UserAgent:                p.RequestMetadata.CallerSuppliedUserAgent,
		RequestReceivedTimestamp: le.Timestamp,
		StageTimestamp:           le.Timestamp,
	}
	if le.Operation != nil && le.Operation.ID != "" {
		e.AuditID = le.Operation.ID
	}
	if ip := p.RequestMetadata.CallerIP; ip != "" {
		e.SourceIPs = []string{ip}
	}
	ref, verb, err := gkeMethod(p.MethodName, p.ResourceName)
	if err != nil {
		return nil, err
	}
	e.Verb, e.ObjectRef = verb, ref
	e.RequestURI = requestURI(ref)
	code, msg := 0, ""
	if p.Status != nil {
		code, msg = p.Status.Code, p.Status.Message
	}
	e.ResponseStatus = &audit.Status{Code: httpCode(code), Message: msg}
	if code != 0 {
		e.ResponseStatus.Status = "Failure"
	}
	if len(p.Request) > 0 {
		e.Level = audit.LevelRequest
		if e.RequestObject, err = withoutType(p.Request); err != nil {
			return nil, fmt.Errorf("request: %w", err)
		}
	}
	if len(p.Response) > 0 {
		e.Level = audit.LevelRequestResponse
		if e.ResponseObject, err = withoutType(p.Response); err != nil {
			return nil, fmt.Errorf("response: %w", err)
		}
	}
	// The entry's labels are the event's annotations (GKE puts the
	// authorization decision and reason there), and so are the string
	// values of the payload's metadata.
	ann := map[string]string{}
	for k, v := range le.Labels {
		ann[k] = v
	}
	for k, v := range p.Metadata {
		if s, ok := v.(string); ok {
			ann[k] = s
		}
	}
	if _, ok := ann["authorization.k8s.io/decision"]; !ok && len(p.AuthorizationInfo) > 0 {
		decision := "allow"
		for _, a := range p.AuthorizationInfo {
			if !a.Granted {
				decision = "forbid"
			}
		}
		ann["authorization.k8s.io/decision"] = decision
	}
	if len(ann) > 0 {
		e.Annotations = ann
	}
	return e, nil
}

// gkeMethod maps a methodName ("io.k8s.core.v1.pods.exec.create") and a
// resourceName ("core/v1/namespaces/shop/pods/web/exec") to the object and
// verb of the request.
func gkeMethod(method, resource string) (*audit.ObjectReference, string, error) {
	segs := strings.Split(method, ".")
	if len(segs) < 4 || segs[0] != "io" || segs[1] != "k8s" {
		return nil, "", fmt.Errorf("methodName %q is not a Kubernetes API method (io.k8s.<group>.<version>.<resource>.<verb>)", method)
	}
	verb := segs[len(segs)-1]
	ref := &audit.ObjectReference{}
	// The version is the first segment after the group that looks like one.
	vi := -1
	for i := 2; i < len(segs)-1; i++ {
		if isVersion(segs[i]) {
			vi = i
			break
		}
	}
	if vi < 0 || vi+1 >= len(segs)-1 {
		// A non-resource request (io.k8s.get on /healthz) or a group-level
		// call (io.k8s.apis.get): only the verb is known.
		if resource == "" && vi < 0 {
			return nil, verb, nil
		}
		if vi < 0 {
			return nil, verb, nil
		}
	} else {
		ref.APIVersion = segs[vi]
		ref.APIGroup = gkeGroup(segs[2:vi])
		ref.Resource = segs[vi+1]
		if vi+2 < len(segs)-1 {
			ref.Subresource = segs[vi+2]
		}
	}
	// resourceName: <group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]
	rs := strings.Split(resource, "/")
	if len(rs) >= 3 {
		group := rs[0]
		if group == "core" {
			group = ""
		}
		ref.APIGroup, ref.APIVersion = group, rs[1]
		rest := rs[2:]
		if len(rest) >= 3 && rest[0] == "namespaces" {
			ref.Namespace, rest = rest[1], rest[2:]
		} else if len(rest) == 2 && rest[0] == "namespaces" && ref.Resource == "namespaces" {
			ref.Name = rest[1]
			rest = nil
		}
		if len(rest) >= 1 {
			ref.Resource = rest[0]
		}
		if len(rest) >= 2 {
			ref.Name = rest[1]
		}
		if len(rest) >= 3 {
			ref.Subresource = rest[2]
		}
	}
	return ref, verb, nil
}

func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' || s[1] < '0' || s[1] > '9' {
		return false
	}
	rest := strings.TrimLeft(s[1:], "0123456789")
	for _, p := range []string{"alpha", "beta"} {
		if r, ok := strings.CutPrefix(rest, p); ok {
			rest = strings.TrimLeft(r, "0123456789")
		}
	}
	return rest == ""
}

// gkeGroup turns the reversed group of a methodName back into an API group:
// core → "", apps → apps, authorization.rbac → rbac.authorization.k8s.io.
func gkeGroup(segs []string) string {
	if len(segs) == 1 {
		switch segs[0] {
		case "core":
			return ""
		case "apps", "batch", "autoscaling", "policy", "extensions":
			return segs[0]
		}
	}
	rev := make([]string, 0, len(segs)+2)
	for i := len(segs) - 1; i >= 0; i-- {
		rev = append(rev, segs[i])
	}
	return strings.Join(append(rev, "k8s", "io"), ".")
}

// requestURI rebuilds the path of a request, which GKE does not log.
func requestURI(ref *audit.ObjectReference) string {
	if ref == nil || ref.Resource == "" {
		return ""
	}
	p := "/api/" + ref.APIVersion
	if ref.APIGroup != "" {
		p = "/apis/" + ref.APIGroup + "/" + ref.APIVersion
	}
	if ref.Namespace != "" {
		p += "/namespaces/" + ref.Namespace
	}
	p += "/" + ref.Resource
	if ref.Name != "" {
		p += "/" + ref.Name
	}
	if ref.Subresource != "" {
		p += "/" + ref.Subresource
	}
	return p
}

// httpCode maps a google.rpc.Code to the HTTP status the API server sent.
func httpCode(code int) int32 {
	switch code {
	case 0:
		return 200
	case 3:
		return 400
	case 5:
		return 404
	case 6:
		return 409
	case 7:
		return 403
	case 16:
		return 401
	}
	return 500
}

// withoutType is a request or response body less its "@type" key.
func withoutType(m map[string]json.RawMessage) (json.RawMessage, error) {
	delete(m, "@type")
	return json.Marshal(m)
}
