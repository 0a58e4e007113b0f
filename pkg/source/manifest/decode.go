package manifest

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Limits protecting the decoder from hostile documents.
const (
	maxDepth  = 1000
	maxValues = 1 << 20 // values produced per document, alias expansions included
)

type decoder struct {
	values   int
	warnings []problemAt
}

// lineError is a decoding error at a line relative to the document.
type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func errAt(line int, format string, args ...any) error {
	return &lineError{line, fmt.Sprintf(format, args...)}
}

type problemAt struct {
	line int
	msg  string
}

func (d *decoder) value(n *yaml.Node, depth int) (any, error) {
	d.values++
	if d.values > maxValues {
		return nil, errAt(n.Line, "document expands to more than %d values (alias bomb?)", maxValues)
	}
	if depth > maxDepth {
		return nil, errAt(n.Line, "document nested deeper than %d levels", maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return d.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, errAt(n.Line, "unknown alias %q", n.Value)
		}
		return d.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := d.value(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		if err := d.mapping(n, out, depth); err != nil {
			return nil, err
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(n), nil
	}
	return nil, errAt(n.Line, "unexpected YAML node")
}

// mapping fills out from n; merge keys (<<) fill only keys not set
// explicitly, as YAML 1.1 prescribes.
func (d *decoder) mapping(n *yaml.Node, out map[string]any, depth int) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return errAt(k.Line, "mapping key is not a scalar")
		}
		key := keyString(k)
		if _, dup := out[key]; dup {
			d.warnings = append(d.warnings, problemAt{k.Line, fmt.Sprintf("duplicate key %q (first at line %d); the last value wins", key, firstKeyLine(n, key))})
		}
		val, err := d.value(v, depth+1)
		if err != nil {
			return err
		}
		out[key] = val
	}
	if len(merges) == 0 {
		return nil
	}
	// Keys set explicitly win over merged ones, whatever the order.
	explicit := make(map[string]bool, len(out))
	for k := range out {
		explicit[k] = true
	}
	for _, m := range merges {
		m = resolveAlias(m)
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, s := range srcs {
			s = resolveAlias(s)
			if s.Kind != yaml.MappingNode {
				return errAt(s.Line, "merge key value is not a mapping")
			}
			tmp := map[string]any{}
			if err := d.mapping(s, tmp, depth+1); err != nil {
				return err
			}
			for k, v := range tmp {
				if _, ok := explicit[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return nil
}

// keyString renders a key as sigs.k8s.io/yaml does when it turns YAML into
// JSON: non-string keys become their JSON text (an unquoted `on:` key is
// "true").
func keyString(k *yaml.Node) string {
	if k.Style == 0 && k.Value != "" {
		// Most keys are plain words that resolve to themselves: skip the
		// resolver (and its allocations) unless the first byte could start
		// a number, null or boolean.
		switch c := k.Value[0]; {
		case c >= 'a' && c <= 'z' && !strings.ContainsRune("ynoft", rune(c)),
			c >= 'A' && c <= 'Z' && !strings.ContainsRune("YNOFT", rune(c)):
			return k.Value
		}
	}
	switch v := scalar(k).(type) {
	case string:
		return v
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return k.Value
}

var yamlFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// scalar resolves a scalar node. Quoted and block scalars are strings;
// explicitly tagged scalars follow their tag; plain scalars follow the YAML
// 1.1 rules that kubectl applies.
func scalar(n *yaml.Node) any {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value
	}
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.ShortTag() {
		case "!!str", "!!binary", "!!timestamp":
			return n.Value
		case "!!null":
			return nil
		}
	}
	return resolvePlain(n.Value)
}

func resolvePlain(s string) any {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE":
		return true
	case "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE":
		return false
	case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
		return math.Inf(1)
	case "-.inf", "-.Inf", "-.INF":
		return math.Inf(-1)
	case ".nan", ".NaN", ".NAN":
		return math.NaN()
	}
	c := s[0]
	if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.') {
		return s
	}
	plain := strings.ReplaceAll(s, "_", "")
	if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return i
	}
	if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return u
	}
	if yamlFloat.MatchString(plain) {
		if f, err := strconv.ParseFloat(plain, 64); err == nil {
			return f
		}
	}
	return s
}

func firstKeyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && keyString(n.Content[i]) == key {
			return n.Content[i].Line
		}
	}
	return 0
}
