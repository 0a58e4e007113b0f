// Package audit is the model of mamori's audit-log threat detection: the
// Kubernetes audit event (audit.k8s.io/v1 Event, as the API server writes
// it to a log file or its webhook backend, and as the GKE and EKS exports
// are converted to), the alert a rule raises on it, and the position of an
// event in its source.
//
// The Event keeps the fields rules read as plain Go values and the request
// and response bodies as raw JSON, decoded only when a rule asks for them:
// most events of a cluster are reads by its own components, and decoding
// bodies nobody looks at would cost more than judging the event.
//
// The packages around it:
//
//	pkg/audit/source       reads events: files, stdin, gzip, rotation, --follow, GKE and EKS exports
//	pkg/audit/rules        judges them: CEL rules (AuditRule, AuditList, AuditMacro, AuditRuleOverride)
//	pkg/audit/auditpolicy  the audit policy that feeds the rules, and a check of an existing one
//	pkg/audit/server       the HTTPS endpoint of the API server's audit webhook backend
package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Audit levels, as audit.k8s.io/v1 names them.
const (
	LevelNone            = "None"
	LevelMetadata        = "Metadata"
	LevelRequest         = "Request"
	LevelRequestResponse = "RequestResponse"
)

// LevelRank orders the audit levels: None < Metadata < Request <
// RequestResponse. An unknown level ranks below None.
func LevelRank(level string) int {
	switch level {
	case LevelNone:
		return 0
	case LevelMetadata:
		return 1
	case LevelRequest:
		return 2
	case LevelRequestResponse:
		return 3
	}
	return -1
}

// Audit stages.
const (
	StageRequestReceived  = "RequestReceived"
	StageResponseStarted  = "ResponseStarted"
	StageResponseComplete = "ResponseComplete"
	StagePanic            = "Panic"
)

// Event is one audit event, field for field the JSON of audit.k8s.io/v1
// Event (less the apiVersion and kind of each line).
type Event struct {
	Level                    string            `json:"level"`
	AuditID                  string            `json:"auditID"`
	Stage                    string            `json:"stage"`
	RequestURI               string            `json:"requestURI"`
	Verb                     string            `json:"verb"`
	User                     UserInfo          `json:"user"`
	ImpersonatedUser         *UserInfo         `json:"impersonatedUser,omitempty"`
	SourceIPs                []string          `json:"sourceIPs,omitempty"`
	UserAgent                string            `json:"userAgent,omitempty"`
	ObjectRef                *ObjectReference  `json:"objectRef,omitempty"`
	ResponseStatus           *Status           `json:"responseStatus,omitempty"`
	RequestObject            json.RawMessage   `json:"requestObject,omitempty"`
	ResponseObject           json.RawMessage   `json:"responseObject,omitempty"`
	RequestReceivedTimestamp time.Time         `json:"requestReceivedTimestamp,omitzero"`
	StageTimestamp           time.Time         `json:"stageTimestamp,omitzero"`
	Annotations              map[string]string `json:"annotations,omitempty"`

	// Pos is where the event was read; it is not part of the event's JSON.
	Pos Position `json:"-"`
}

// UserInfo is who made a request (authentication.k8s.io/v1 UserInfo).
type UserInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// ObjectReference is what a request was about.
type ObjectReference struct {
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Subresource     string `json:"subresource,omitempty"`
}

// Status is the part of a metav1.Status the audit log carries.
type Status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int32  `json:"code,omitempty"`
}

// Code is the response's HTTP status code, 0 when the event has none
// (stage RequestReceived).
func (e *Event) Code() int32 {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

// Resource is the resource with its subresource, "pods/exec", or "" for a
// non-resource request.
func (e *Event) Resource() string {
	if e.ObjectRef == nil {
		return ""
	}
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

// Time is when the event's stage was reached, or when the request was
// received if the stage has no timestamp.
func (e *Event) Time() time.Time {
	if !e.StageTimestamp.IsZero() {
		return e.StageTimestamp
	}
	return e.RequestReceivedTimestamp
}

// Position is where an event was read: a file (or "-" for stdin, or the
// remote address of a webhook request) and a line number, 0 when lines
// mean nothing (a webhook request's body).
type Position struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

func (p Position) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}

// Malformed is a line or an event that could not be read. It is counted
// and reported; the stream goes on.
type Malformed struct {
	Pos Position
	Err error
}

func (m Malformed) Error() string { return fmt.Sprintf("%s: %v", m.Pos, m.Err) }

// IsSystemUser reports whether a username is one of the cluster's own
// components: system:* users other than anonymous and service accounts
// (kube-controller-manager, kube-scheduler, kube-proxy, system:apiserver,
// system:node:<name>). Service accounts are workloads, not the system.
func IsSystemUser(name string) bool {
	if !strings.HasPrefix(name, "system:") {
		return false
	}
	return name != "system:anonymous" && !strings.HasPrefix(name, "system:serviceaccount:")
}

// ServiceAccount splits "system:serviceaccount:<ns>:<name>".
func ServiceAccount(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != ""
}

// Alert is what a rule raised. It carries what a responder needs without
// going back to the log: the rule and its MITRE ATT&CK mapping, and the
// event's who, what, where and when.
type Alert struct {
	Rule      string `json:"rule"`
	Title     string `json:"title"`
	Severity  string `json:"severity"`
	Technique string `json:"technique,omitempty"` // MITRE ATT&CK technique ID, e.g. T1609
	Tactic    string `json:"tactic,omitempty"`
	// TechniqueName is the technique's name, e.g. "Container Administration Command".
	TechniqueName string `json:"techniqueName,omitempty"`
	Output        string `json:"output"`

	Time               time.Time `json:"time"`
	AuditID            string    `json:"auditID"`
	Stage              string    `json:"stage,omitempty"`
	User               string    `json:"user"`
	Groups             []string  `json:"groups,omitempty"`
	ImpersonatedUser   string    `json:"impersonatedUser,omitempty"`
	ImpersonatedGroups []string  `json:"impersonatedGroups,omitempty"`
	Verb               string    `json:"verb"`
	APIGroup           string    `json:"apiGroup,omitempty"`
	Resource           string    `json:"resource,omitempty"` // with the subresource: pods/exec
	Namespace          string    `json:"namespace,omitempty"`
	Name               string    `json:"name,omitempty"`
	RequestURI         string    `json:"requestURI,omitempty"`
	SourceIPs          []string  `json:"sourceIPs,omitempty"`
	UserAgent          string    `json:"userAgent,omitempty"`
	ResponseCode       int32     `json:"responseCode,omitempty"`

	// Count is, for an aggregating rule, how many matching events the
	// window held when the alert was raised; AuditIDs names the first of
	// them (at most 10). Window is the rule's window.
	Count    int      `json:"count,omitempty"`
	Window   string   `json:"window,omitempty"`
	AuditIDs []string `json:"auditIDs,omitempty"`

	// Source is where the event was read (file:line).
	Source string `json:"source,omitempty"`
}

// NewAlert fills an alert's event fields from e.
func NewAlert(e *Event) Alert {
	a := Alert{
		Time: e.Time(), AuditID: e.AuditID, Stage: e.Stage,
		User: e.User.Username, Groups: e.User.Groups,
		Verb: e.Verb, RequestURI: e.RequestURI,
		SourceIPs: e.SourceIPs, UserAgent: e.UserAgent, ResponseCode: e.Code(),
		Source: e.Pos.String(),
	}
	if e.ImpersonatedUser != nil {
		a.ImpersonatedUser = e.ImpersonatedUser.Username
		a.ImpersonatedGroups = e.ImpersonatedUser.Groups
	}
	if r := e.ObjectRef; r != nil {
		a.APIGroup, a.Resource, a.Namespace, a.Name = r.APIGroup, e.Resource(), r.Namespace, r.Name
	}
	return a
}

// Requirement is what a rule needs the audit policy to record for it: the
// requests it reads (verbs and resources; empty means all), the least
// level at which it can judge them (Metadata, or Request when its
// condition reads the request body, RequestResponse when it reads the
// response body) and the stages it judges (any one of them suffices).
// The recommended audit policy is built from the requirements of the
// rules, and an existing policy is checked against them.
type Requirement struct {
	Rule      string
	Verbs     []string
	Resources []GroupResources
	// Namespaces narrows the requests to these namespaces; empty means all.
	Namespaces []string
	// NonResourceURLs are the non-resource paths the rule reads ("/healthz*").
	NonResourceURLs []string
	Level           string
	Stages          []string
}

// GroupResources names resources of one API group, as an audit policy
// rule does: "pods", "pods/exec", "*/scale", "*" ("" is the core group).
type GroupResources struct {
	Group     string   `json:"group"`
	Resources []string `json:"resources,omitempty"`
}
