package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// template is a parsed output: literal text and {{field.path}} parts.
type template struct {
	parts []tplPart
}

type tplPart struct {
	lit  string
	path []string // nil for a literal
}

// tplRoots are the variables an output may name.
var tplRoots = map[string]bool{
	"verb": true, "stage": true, "level": true, "auditID": true, "requestURI": true, "userAgent": true,
	"sourceIPs": true, "user": true, "impersonatedUser": true, "objectRef": true, "responseStatus": true,
	"annotations": true, "requestObject": true, "responseObject": true, "checks": true,
}

func parseTemplate(s string) (*template, error) {
	t := &template{}
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			t.parts = append(t.parts, tplPart{lit: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: s[:i]})
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("unclosed {{ at offset %d", i)
		}
		field := strings.TrimSpace(s[i+2 : i+j])
		path := strings.Split(field, ".")
		if !tplRoots[path[0]] {
			return nil, fmt.Errorf("{{%s}}: unknown field %q", field, path[0])
		}
		for _, p := range path {
			if p == "" {
				return nil, fmt.Errorf("{{%s}}: empty path segment", field)
			}
		}
		t.parts = append(t.parts, tplPart{path: path})
		s = s[i+j+2:]
	}
	return t, nil
}

// vars are the root variables the template reads.
func (t *template) vars() []string {
	var out []string
	for _, p := range t.parts {
		if p.path != nil {
			out = append(out, p.path[0])
		}
	}
	return out
}

const none = "<none>"

func (t *template) render(a *activation) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.path == nil {
			b.WriteString(p.lit)
			continue
		}
		v := a.lookup(p.path)
		if v == "" {
			v = none
		}
		b.WriteString(v)
	}
	return b.String()
}

// lookup renders the event field at path, "" when absent or null.
func (a *activation) lookup(path []string) string {
	e := a.ev
	sub := func(i int) string {
		if len(path) > i {
			return path[i]
		}
		return ""
	}
	switch path[0] {
	case "verb":
		return e.Verb
	case "stage":
		return e.Stage
	case "level":
		return e.Level
	case "auditID":
		return e.AuditID
	case "requestURI":
		return e.RequestURI
	case "userAgent":
		return e.UserAgent
	case "sourceIPs":
		return strings.Join(e.SourceIPs, ",")
	case "user":
		return userField(&e.User, sub(1))
	case "impersonatedUser":
		if e.ImpersonatedUser == nil {
			return ""
		}
		return userField(e.ImpersonatedUser, sub(1))
	case "objectRef":
		r := e.ObjectRef
		if r == nil {
			return ""
		}
		switch sub(1) {
		case "resource":
			return r.Resource
		case "subresource":
			return r.Subresource
		case "namespace":
			return r.Namespace
		case "name":
			return r.Name
		case "apiGroup":
			return r.APIGroup
		case "apiVersion":
			return r.APIVersion
		case "uid":
			return r.UID
		case "resourceVersion":
			return r.ResourceVersion
		}
		return ""
	case "responseStatus":
		s := e.ResponseStatus
		if s == nil {
			return ""
		}
		switch sub(1) {
		case "code":
			return strconv.Itoa(int(s.Code))
		case "reason":
			return s.Reason
		case "message":
			return s.Message
		case "status":
			return s.Status
		}
		return ""
	case "annotations":
		return e.Annotations[sub(1)]
	case "checks":
		return strings.Join(a.checkIDs(), ",")
	case "requestObject", "responseObject":
		var v any
		if path[0] == "requestObject" {
			v = a.body(&a.reqBody, e.RequestObject)
		} else {
			v = a.body(&a.respBody, e.ResponseObject)
		}
		for _, k := range path[1:] {
			m, ok := v.(map[string]any)
			if !ok {
				return ""
			}
			v = m[k]
		}
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	return ""
}

func userField(u *audit.UserInfo, f string) string {
	switch f {
	case "username":
		return u.Username
	case "uid":
		return u.UID
	case "groups":
		return strings.Join(u.Groups, ",")
	}
	return ""
}
