package config

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// The configuration is read from the YAML AST rather than decoded into
// structs: the decoder stops at the first problem and does not say where a
// valid-but-wrong value is, while walking the tree gives every problem with
// its line. The AST is first simplified into nodes (anchors, aliases, merge
// keys and tags resolved).

type kind int

const (
	kNull kind = iota
	kScalar
	kMap
	kSeq
)

type scalarType int

const (
	tString scalarType = iota
	tInt
	tFloat
	tBool
)

func (t scalarType) String() string {
	switch t {
	case tInt:
		return "an integer"
	case tFloat:
		return "a number"
	case tBool:
		return "a boolean"
	}
	return "a string"
}

type pos struct{ line, col int }

type node struct {
	kind   kind
	pos    pos
	typ    scalarType // kScalar
	text   string     // kScalar: the value (decoded for strings, as written otherwise)
	b      bool       // kScalar tBool
	fields []*field   // kMap, in file order
	items  []*node    // kSeq
	raw    bool       // kScalar tString: text is final (a rendered placeholder): no ${VAR} expansion
}

type field struct {
	key    string
	keyPos pos
	val    *node
}

// describe names what a node is, for "must be X, not Y" messages.
func (n *node) describe() string {
	switch n.kind {
	case kScalar:
		return n.typ.String()
	case kMap:
		return "a mapping"
	case kSeq:
		return "a list"
	}
	return "empty"
}

func tokPos(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return pos{}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// parseTree parses data into the body of its single document (nil when the
// file is empty). A syntax error stops everything and is returned alone.
func (l *loader) parseTree(data []byte) (*node, bool) {
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			l.errf(tokPos(ye.GetToken()), "", "YAML syntax error: %s", ye.GetMessage())
		} else {
			l.errf(pos{}, "", "YAML syntax error: %v", err)
		}
		return nil, false
	}
	var body ast.Node
	for i, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			l.errf(tokPos(docPos(f.Docs[i])), "", "the file must hold a single YAML document")
			return nil, false
		}
		body = doc.Body
	}
	c := converter{l: l, anchors: map[string]*node{}}
	return c.conv(body), true
}

func docPos(d *ast.DocumentNode) *token.Token {
	if d.Start != nil {
		return d.Start
	}
	return d.Body.GetToken()
}

type converter struct {
	l       *loader
	anchors map[string]*node
	depth   int
}

func (c *converter) conv(n ast.Node) *node {
	if n == nil {
		return &node{kind: kNull}
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > 100 {
		c.l.errf(tokPos(n.GetToken()), "", "the document is nested too deeply")
		return &node{kind: kNull, pos: tokPos(n.GetToken())}
	}
	p := tokPos(n.GetToken())
	switch n := n.(type) {
	case *ast.NullNode:
		return &node{kind: kNull, pos: p}
	case *ast.StringNode:
		return &node{kind: kScalar, pos: p, typ: tString, text: n.Value}
	case *ast.LiteralNode:
		s := ""
		if n.Value != nil {
			s = n.Value.Value
		}
		return &node{kind: kScalar, pos: p, typ: tString, text: s}
	case *ast.IntegerNode:
		return &node{kind: kScalar, pos: p, typ: tInt, text: n.Token.Value}
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return &node{kind: kScalar, pos: p, typ: tFloat, text: n.GetToken().Value}
	case *ast.BoolNode:
		return &node{kind: kScalar, pos: p, typ: tBool, text: n.Token.Value, b: n.Value}
	case *ast.TagNode:
		v := c.conv(n.Value)
		if n.Start != nil && v.kind == kScalar && (n.Start.Value == "!!str" || n.Start.Value == "tag:yaml.org,2002:str") {
			v.typ = tString
		}
		return v
	case *ast.AnchorNode:
		v := c.conv(n.Value)
		if n.Name != nil {
			c.anchors[n.Name.GetToken().Value] = v
		}
		return v
	case *ast.AliasNode:
		name := ""
		if n.Value != nil {
			name = n.Value.GetToken().Value
		}
		if v, ok := c.anchors[name]; ok {
			return v
		}
		c.l.errf(p, "", "alias refers to no anchor defined above it")
		return &node{kind: kNull, pos: p}
	case *ast.MappingValueNode:
		return c.mapping(p, []*ast.MappingValueNode{n})
	case *ast.MappingNode:
		if !n.IsFlowStyle && len(n.Values) > 0 {
			p = tokPos(n.Values[0].Key.GetToken())
		} else if n.Start != nil {
			p = tokPos(n.Start)
		}
		return c.mapping(p, n.Values)
	case *ast.SequenceNode:
		out := &node{kind: kSeq, pos: p}
		for _, v := range n.Values {
			out.items = append(out.items, c.conv(v))
		}
		return out
	}
	c.l.errf(p, "", "unsupported YAML construct %s", n.Type())
	return &node{kind: kNull, pos: p}
}

func (c *converter) mapping(p pos, values []*ast.MappingValueNode) *node {
	out := &node{kind: kMap, pos: p}
	var merged []*field
	for _, mv := range values {
		key := mv.Key
		if mk, ok := key.(*ast.MappingKeyNode); ok {
			if kn, ok := mk.Value.(ast.MapKeyNode); ok {
				key = kn
			}
		}
		kp := tokPos(key.GetToken())
		if key.IsMergeKey() {
			v := c.conv(mv.Value)
			srcs := []*node{v}
			if v.kind == kSeq {
				srcs = v.items
			}
			for _, s := range srcs {
				if s.kind != kMap {
					c.l.errf(kp, "", "a merge key (<<) needs a mapping or a list of mappings")
					continue
				}
				merged = append(merged, s.fields...)
			}
			continue
		}
		var name string
		switch k := key.(type) {
		case *ast.StringNode:
			name = k.Value
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode:
			name = k.GetToken().Value
		default:
			c.l.errf(kp, "", "mapping keys must be plain names, not %s", fmt.Sprint(key.Type()))
			continue
		}
		out.fields = append(out.fields, &field{key: name, keyPos: kp, val: c.conv(mv.Value)})
	}
	// Merged fields come after, and lose to, the mapping's own fields.
	for _, f := range merged {
		if !hasKey(out.fields, f.key) {
			out.fields = append(out.fields, f)
		}
	}
	return out
}

func hasKey(fs []*field, key string) bool {
	for _, f := range fs {
		if f.key == key {
			return true
		}
	}
	return false
}
