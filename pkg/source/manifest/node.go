package manifest

import yaml "go.yaml.in/yaml/v3"

// node is a YAML node: what mamori needs of yaml.v3's Node (no comments or
// anchors) in about half its memory, which matters at 150 nodes per object.
type node struct {
	kind   yaml.Kind
	style  yaml.Style
	line   int32
	column int32
	// tag is set only for merge keys ("!!merge") and explicitly tagged
	// scalars (their short tag).
	tag     string
	value   string
	content []*node
	alias   *node
}

// fromYAML converts a yaml.v3 tree. Aliases keep pointing at the one node
// they name, so alias cycles stay cycles (the decoder bounds them).
func fromYAML(n *yaml.Node, seen map[*yaml.Node]*node) *node {
	if c, ok := seen[n]; ok {
		return c
	}
	c := &node{kind: n.Kind, style: n.Style, line: int32(n.Line), column: int32(n.Column), value: n.Value}
	seen[n] = c
	if n.Style&yaml.TaggedStyle != 0 || n.Tag == "!!merge" {
		c.tag = n.ShortTag()
	}
	if n.Alias != nil {
		c.alias = fromYAML(n.Alias, seen)
	}
	if len(n.Content) > 0 {
		c.content = make([]*node, len(n.Content))
		for i, k := range n.Content {
			c.content[i] = fromYAML(k, seen)
		}
	}
	return c
}
