package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mamori-dev/mamori/pkg/audit"
)

// auditStream prefixes the CloudWatch log streams of EKS's API server
// audit log; the log group holds others (authenticator, scheduler).
const auditStream = "kube-apiserver-audit"

// cwEvent is one CloudWatch Logs event, as the AWS CLI prints it and a
// subscription filter delivers it.
type cwEvent struct {
	LogStreamName string `json:"logStreamName"`
	Message       string `json:"message"`
}

// eksLine handles a line of an S3 export ("<timestamp> <message>") or one
// JSON record on a line (a Firehose record, compact AWS CLI output).
func (r *reader) eksLine(b []byte, line int) error {
	if b[0] == '{' {
		return r.eksDocument(b, line)
	}
	_, msg, ok := bytes.Cut(b, []byte(" "))
	if !ok {
		r.malformed(line, fmt.Errorf("EKS export line is not \"<timestamp> <message>\""))
		return nil
	}
	return r.eksMessage(msg, line, "")
}

// eksDocument handles the output of `aws logs filter-log-events` or
// `get-log-events` ({"events":[...]}) and a subscription's record
// ({"messageType":"DATA_MESSAGE","logStream":...,"logEvents":[...]}).
func (r *reader) eksDocument(v []byte, line int) error {
	var doc struct {
		MessageType string            `json:"messageType"`
		LogStream   string            `json:"logStream"`
		Events      []json.RawMessage `json:"events"`
		LogEvents   []json.RawMessage `json:"logEvents"`
	}
	if err := json.Unmarshal(v, &doc); err != nil {
		r.malformed(line, fmt.Errorf("EKS CloudWatch Logs record: %w", err))
		return nil
	}
	if doc.MessageType == "CONTROL_MESSAGE" {
		r.st.Skipped++
		return nil
	}
	items := doc.Events
	if items == nil {
		items = doc.LogEvents
	}
	if items == nil {
		// Not a CloudWatch document: an audit event as it is.
		return r.eksMessage(v, line, doc.LogStream)
	}
	lc := lineCounter{b: v, line: line}
	for _, it := range items {
		at := lc.at(it)
		var ev cwEvent
		if err := json.Unmarshal(it, &ev); err != nil {
			r.malformed(at, fmt.Errorf("CloudWatch Logs event: %w", err))
			continue
		}
		stream := ev.LogStreamName
		if stream == "" {
			stream = doc.LogStream
		}
		if err := r.eksMessage([]byte(ev.Message), at, stream); err != nil {
			return err
		}
	}
	return nil
}

// eksMessage handles the message of one CloudWatch event: an audit event
// when it comes from the audit stream, skipped when it is another
// component's log line.
func (r *reader) eksMessage(msg []byte, line int, stream string) error {
	msg = bytes.TrimSpace(msg)
	if stream != "" && !strings.HasPrefix(stream, auditStream) || len(msg) == 0 || msg[0] != '{' {
		r.st.Skipped++
		return nil
	}
	e := new(audit.Event)
	kind, err := audit.DecodeEventKind(msg, e)
	switch {
	case err != nil && (stream != "" || bytes.Contains(msg, []byte("audit.k8s.io"))):
		r.malformed(line, fmt.Errorf("audit event in CloudWatch message: %w", err))
	case err != nil, kind != "Event" && (kind != "" || e.AuditID == ""):
		r.st.Skipped++
	default:
		return r.event(e, line)
	}
	return nil
}
