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

func (d *decoder) value(n *node, depth int) (any, error) {
	d.values++
	if d.values > maxValues {
		return nil, errAt(int(n.line), "document expands to more than %d values (alias bomb?)", maxValues)
	}
	if depth > maxDepth {
		return nil, errAt(int(n.line), "document nested deeper than %d levels", maxDepth)
	}
	switch n.kind {
	case yaml.DocumentNode:
		if len(n.content) == 0 {
			return nil, nil
		}
		return d.value(n.content[0], depth+1)
	case yaml.AliasNode:
		if n.alias == nil {
			return nil, errAt(int(n.line), "unknown alias %q", n.value)
		}
		return d.value(n.alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.content))
		for _, c := range n.content {
			v, err := d.value(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.content)/2)
		if err := d.mapping(n, out, depth); err != nil {
			return nil, err
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(n), nil
	}
	return nil, errAt(int(n.line), "unexpected YAML node")
}

// check validates a tree against what value would reject (alias bombs,
// depth, non-scalar keys, merge values that are not mappings) and collects
// the duplicate-key warnings, without building anything: Data is built
// only when asked for.
func (d *decoder) check(n *node, depth int) error {
	d.values++
	if d.values > maxValues {
		return errAt(int(n.line), "document expands to more than %d values (alias bomb?)", maxValues)
	}
	if depth > maxDepth {
		return errAt(int(n.line), "document nested deeper than %d levels", maxDepth)
	}
	switch n.kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.content {
			if err := d.check(c, depth+1); err != nil {
				return err
			}
		}
	case yaml.AliasNode:
		if n.alias == nil {
			return errAt(int(n.line), "unknown alias %q", n.value)
		}
		return d.check(n.alias, depth+1)
	case yaml.MappingNode:
		var seen map[string]int // only for big mappings; small ones scan
		if len(n.content) > 32 {
			seen = make(map[string]int, len(n.content)/2)
		}
		for i := 0; i+1 < len(n.content); i += 2 {
			k, v := n.content[i], n.content[i+1]
			if k.kind == yaml.ScalarNode && k.tag == "!!merge" {
				m := resolveAlias(v)
				srcs := []*node{m}
				if m.kind == yaml.SequenceNode {
					srcs = m.content
				}
				for _, s := range srcs {
					if resolveAlias(s).kind != yaml.MappingNode {
						return errAt(int(s.line), "merge key value is not a mapping")
					}
				}
				if err := d.check(v, depth+1); err != nil {
					return err
				}
				continue
			}
			if k.kind != yaml.ScalarNode {
				return errAt(int(k.line), "mapping key is not a scalar")
			}
			key := keyString(k)
			if first := d.firstKey(n, i, key, seen); first > 0 {
				d.warnings = append(d.warnings, problemAt{int(k.line), fmt.Sprintf("duplicate key %q (first at line %d); the last value wins", key, first)})
			}
			if err := d.check(v, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstKey returns the line of an earlier key equal to key in mapping n
// before index i, or 0.
func (d *decoder) firstKey(n *node, i int, key string, seen map[string]int) int {
	if seen != nil {
		first, dup := seen[key]
		if !dup {
			seen[key] = int(n.content[i].line)
		}
		return first
	}
	for j := 0; j < i; j += 2 {
		if k := n.content[j]; k.kind == yaml.ScalarNode && k.tag != "!!merge" && keyString(k) == key {
			return int(k.line)
		}
	}
	return 0
}

// mapping fills out from n; merge keys (<<) fill only keys not set
// explicitly, as YAML 1.1 prescribes.
func (d *decoder) mapping(n *node, out map[string]any, depth int) error {
	var merges []*node
	for i := 0; i+1 < len(n.content); i += 2 {
		k, v := n.content[i], n.content[i+1]
		if k.kind == yaml.ScalarNode && k.tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.kind != yaml.ScalarNode {
			return errAt(int(k.line), "mapping key is not a scalar")
		}
		key := keyString(k)
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
		srcs := []*node{m}
		if m.kind == yaml.SequenceNode {
			srcs = m.content
		}
		for _, s := range srcs {
			s = resolveAlias(s)
			if s.kind != yaml.MappingNode {
				return errAt(int(s.line), "merge key value is not a mapping")
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
func keyString(k *node) string {
	if k.style == 0 && k.value != "" {
		// Most keys are plain words that resolve to themselves: skip the
		// resolver (and its allocations) unless the key could be a number,
		// a null or a boolean.
		if c := k.value[0]; (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') && !specialWord(k.value) {
			return k.value
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
	return k.value
}

// specialWord reports whether a plain scalar that starts with a letter
// resolves to something other than itself: a YAML 1.1 boolean, null or
// infinity/NaN spelling.
func specialWord(s string) bool {
	switch s {
	case "null", "Null", "NULL",
		"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE",
		"n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE":
		return true
	}
	return false
}

var yamlFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// scalar resolves a scalar node. Quoted and block scalars are strings;
// explicitly tagged scalars follow their tag; plain scalars follow the YAML
// 1.1 rules that kubectl applies.
func scalar(n *node) any {
	if n.style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.value
	}
	if n.style&yaml.TaggedStyle != 0 {
		switch n.tag {
		case "!!str", "!!binary", "!!timestamp":
			return n.value
		case "!!null":
			return nil
		}
	}
	return resolvePlain(n.value)
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
