package filters

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/beametrics/beametrics/internal/event"
)

// Expression compiles an expr-lang expression over the event. Fields are
// read by name (http.status, attributes["pipeline-env"]); a missing field is
// nil. The expression must give a bool; an expression that fails at run time
// for an event (a missing field compared with <, say) does not match it.
//
// The common forms (comparisons, and/or/not, in, matches, contains,
// startsWith, endsWith over fields and literals) run on a compiled tree that
// reads the event in place without allocating. Anything else runs on the
// expr virtual machine over the event converted to Go values, which is
// correct but allocates.
func Expression(src string) (Predicate, error) {
	program, err := expr.Compile(src, expr.AllowUndefinedVariables(), expr.AsBool())
	if err != nil {
		// expr draws a caret under the source on further lines; config
		// errors are one line each, and the message names the column.
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return nil, fmt.Errorf("bad filter expression: %s", msg)
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("bad filter expression: %v", err)
	}
	// Undefined names are allowed so that absent fields read as nil, but
	// that also lets a misspelt function through, which would then fail
	// on every event: refuse calls of anything but expr's builtins.
	if name := unknownCall(tree.Node); name != "" {
		return nil, fmt.Errorf("bad filter expression: unknown function %s (known: %s)", name, strings.Join(builtin.Names, ", "))
	}
	if fast, ok := compileNode(tree.Node); ok {
		return &fastExpr{root: fast}, nil
	}
	return &vmExpr{program: program}, nil
}

// IsFast reports whether p is an expression that runs on the allocation-free
// path; validate prints it so users can see the cost of what they wrote.
func IsFast(p Predicate) bool {
	_, slow := p.(*vmExpr)
	return !slow
}

type vmExpr struct {
	program *vm.Program
}

func (e *vmExpr) Match(r *event.Reader) bool {
	out, err := expr.Run(e.program, r.Map())
	if err != nil {
		return false
	}
	b, _ := out.(bool)
	return b
}

type fastExpr struct{ root exprNode }

func (e *fastExpr) Match(r *event.Reader) bool {
	v := e.root.eval(r)
	return v.kind == kBool && v.b
}

// operand is an intermediate value of the fast evaluator.
type operand struct {
	kind opKind
	s    []byte
	f    float64
	b    bool
	arr  event.Value // for kArray
}

type opKind uint8

const (
	kInvalid opKind = iota // an error: the whole expression does not match
	kNil
	kString
	kNumber
	kBool
	kArray
	kOther // objects: only == nil and != nil are defined on them here
)

func operandOf(v event.Value) operand {
	switch v.Kind() {
	case event.Missing, event.Null:
		return operand{kind: kNil}
	case event.String:
		return operand{kind: kString, s: v.Str()}
	case event.Number:
		f, _ := v.Num()
		return operand{kind: kNumber, f: f}
	case event.Bool:
		b, _ := v.Bool()
		return operand{kind: kBool, b: b}
	case event.Array:
		return operand{kind: kArray, arr: v}
	}
	return operand{kind: kOther}
}

type exprNode interface {
	eval(r *event.Reader) operand
}

// compileNode translates the supported subset of expr's syntax tree.
// ok is false for anything else, and the caller uses the VM instead.
func compileNode(n ast.Node) (exprNode, bool) {
	switch n := n.(type) {
	case *ast.NilNode:
		return &constNode{kind: kNil}, true
	case *ast.BoolNode:
		return &constNode{kind: kBool, b: n.Value}, true
	case *ast.IntegerNode:
		return &constNode{kind: kNumber, f: float64(n.Value)}, true
	case *ast.FloatNode:
		return &constNode{kind: kNumber, f: n.Value}, true
	case *ast.StringNode:
		return &constNode{kind: kString, s: []byte(n.Value)}, true
	case *ast.IdentifierNode, *ast.MemberNode, *ast.ChainNode:
		keys, ok := memberPath(n)
		if !ok {
			return nil, false
		}
		return newFieldNode(keys), true
	case *ast.UnaryNode:
		inner, ok := compileNode(n.Node)
		if !ok {
			return nil, false
		}
		switch n.Operator {
		case "!", "not":
			return &notNode{inner}, true
		case "-":
			if c, isConst := inner.(*constNode); isConst && c.kind == kNumber {
				neg := *c
				neg.f = -neg.f
				return &neg, true
			}
		}
		return nil, false
	case *ast.BinaryNode:
		return compileBinary(n)
	}
	return nil, false
}

func memberPath(n ast.Node) ([]string, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return []string{n.Value}, true
	case *ast.ChainNode:
		return memberPath(n.Node)
	case *ast.MemberNode:
		if n.Method {
			return nil, false
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			return nil, false
		}
		base, ok := memberPath(n.Node)
		if !ok {
			return nil, false
		}
		return append(base, prop.Value), true
	}
	return nil, false
}

func compileBinary(n *ast.BinaryNode) (exprNode, bool) {
	left, ok := compileNode(n.Left)
	if !ok {
		return nil, false
	}
	switch n.Operator {
	case "matches":
		s, isStr := n.Right.(*ast.StringNode)
		if !isStr {
			return nil, false
		}
		re, err := compileRegex(s.Value)
		if err != nil {
			return nil, false
		}
		return &matchesNode{left: left, re: re}, true
	case "in", "not in":
		arr, isArr := n.Right.(*ast.ArrayNode)
		if !isArr {
			return nil, false
		}
		var set []constNode
		for _, e := range arr.Nodes {
			c, ok := compileNode(e)
			cn, isConst := c.(*constNode)
			if !ok || !isConst {
				return nil, false
			}
			set = append(set, *cn)
		}
		var node exprNode = &inNode{left: left, set: set}
		if n.Operator == "not in" {
			node = &notNode{node}
		}
		return node, true
	}
	right, ok := compileNode(n.Right)
	if !ok {
		return nil, false
	}
	switch n.Operator {
	case "&&", "and":
		return &andNode{left, right}, true
	case "||", "or":
		return &orNode{left, right}, true
	case "==":
		return &eqNode{left, right}, true
	case "!=":
		return &notNode{&eqNode{left, right}}, true
	case "<", "<=", ">", ">=":
		return &cmpNode{op: n.Operator, left: left, right: right}, true
	case "contains", "startsWith", "endsWith":
		return &stringOpNode{op: n.Operator, left: left, right: right}, true
	}
	return nil, false
}

type constNode operand

func (c *constNode) eval(*event.Reader) operand { return operand(*c) }

// fieldNode reads a field. Like expr, it fails (rather than giving nil)
// when a path goes through something that is not an object: `http.status`
// on an event without `http` is an error, `service` alone is nil.
type fieldNode struct {
	path    event.Path
	parents []event.Path // the proper prefixes of path
}

func newFieldNode(keys []string) *fieldNode {
	f := &fieldNode{path: event.PathFromKeys(keys)}
	for i := 1; i < len(keys); i++ {
		f.parents = append(f.parents, event.PathFromKeys(keys[:i]))
	}
	return f
}

func (f *fieldNode) eval(r *event.Reader) operand {
	v := r.Lookup(&f.path)
	if v.Kind() == event.Missing {
		for i := range f.parents {
			if i == 0 && f.path.Keys()[0] == "attributes" && len(r.Attributes()) > 0 {
				continue // the message's attributes are an object
			}
			if r.Lookup(&f.parents[i]).Kind() != event.Object {
				return operand{}
			}
		}
	}
	return operandOf(v)
}

type notNode struct{ inner exprNode }

func (n *notNode) eval(r *event.Reader) operand {
	v := n.inner.eval(r)
	if v.kind != kBool {
		return operand{}
	}
	return operand{kind: kBool, b: !v.b}
}

type andNode struct{ left, right exprNode }

func (n *andNode) eval(r *event.Reader) operand {
	l := n.left.eval(r)
	if l.kind != kBool {
		return operand{}
	}
	if !l.b {
		return l
	}
	rv := n.right.eval(r)
	if rv.kind != kBool {
		return operand{}
	}
	return rv
}

type orNode struct{ left, right exprNode }

func (n *orNode) eval(r *event.Reader) operand {
	l := n.left.eval(r)
	if l.kind != kBool {
		return operand{}
	}
	if l.b {
		return l
	}
	rv := n.right.eval(r)
	if rv.kind != kBool {
		return operand{}
	}
	return rv
}

// equalOperands follows expr: numbers numerically, strings, bools, nil to
// nil; different types are unequal.
func equalOperands(a, b operand) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kNil:
		return true
	case kString:
		return bytes.Equal(a.s, b.s)
	case kNumber:
		return a.f == b.f
	case kBool:
		return a.b == b.b
	}
	return false
}

type eqNode struct{ left, right exprNode }

func (n *eqNode) eval(r *event.Reader) operand {
	l, rv := n.left.eval(r), n.right.eval(r)
	if l.kind == kInvalid || rv.kind == kInvalid {
		return operand{}
	}
	return operand{kind: kBool, b: equalOperands(l, rv)}
}

type cmpNode struct {
	op          string
	left, right exprNode
}

func (n *cmpNode) eval(r *event.Reader) operand {
	l, rv := n.left.eval(r), n.right.eval(r)
	var c int
	switch {
	case l.kind == kNumber && rv.kind == kNumber:
		switch {
		case l.f < rv.f:
			c = -1
		case l.f > rv.f:
			c = 1
		case l.f != rv.f: // NaN cannot come from JSON, but stay safe
			return operand{}
		}
	case l.kind == kString && rv.kind == kString:
		c = bytes.Compare(l.s, rv.s)
	default:
		return operand{}
	}
	var b bool
	switch n.op {
	case "<":
		b = c < 0
	case "<=":
		b = c <= 0
	case ">":
		b = c > 0
	default:
		b = c >= 0
	}
	return operand{kind: kBool, b: b}
}

type inNode struct {
	left exprNode
	set  []constNode
}

func (n *inNode) eval(r *event.Reader) operand {
	l := n.left.eval(r)
	if l.kind == kInvalid {
		return operand{}
	}
	for _, c := range n.set {
		if equalOperands(l, operand(c)) {
			return operand{kind: kBool, b: true}
		}
	}
	return operand{kind: kBool, b: false}
}

type matchesNode struct {
	left exprNode
	re   matcher
}

func (n *matchesNode) eval(r *event.Reader) operand {
	l := n.left.eval(r)
	if l.kind == kNil { // expr: nil matches anything is false
		return operand{kind: kBool}
	}
	if l.kind != kString {
		return operand{}
	}
	return operand{kind: kBool, b: n.re.Match(l.s)}
}

type stringOpNode struct {
	op          string
	left, right exprNode
}

func (n *stringOpNode) eval(r *event.Reader) operand {
	l, rv := n.left.eval(r), n.right.eval(r)
	if (l.kind == kNil && (rv.kind == kString || rv.kind == kNil)) || (rv.kind == kNil && l.kind == kString) {
		return operand{kind: kBool} // expr: string operators on nil are false
	}
	if l.kind != kString || rv.kind != kString {
		return operand{}
	}
	var b bool
	switch n.op {
	case "contains":
		b = bytes.Contains(l.s, rv.s)
	case "startsWith":
		b = bytes.HasPrefix(l.s, rv.s)
	default:
		b = bytes.HasSuffix(l.s, rv.s)
	}
	return operand{kind: kBool, b: b}
}

// bindNode registers the paths of an expression tree. It builds a new tree
// rather than changing the nodes: a compiled tree may be bound to more than
// one schema.
func bindNode(n exprNode, schema *event.Schema) exprNode {
	switch n := n.(type) {
	case *fieldNode:
		// A copy: the compiled tree may be bound to other schemas too.
		c := &fieldNode{path: n.path, parents: append([]event.Path(nil), n.parents...)}
		schema.Add(&c.path)
		for i := range c.parents {
			schema.Add(&c.parents[i])
		}
		return c
	case *notNode:
		return &notNode{bindNode(n.inner, schema)}
	case *andNode:
		return &andNode{bindNode(n.left, schema), bindNode(n.right, schema)}
	case *orNode:
		return &orNode{bindNode(n.left, schema), bindNode(n.right, schema)}
	case *eqNode:
		return &eqNode{bindNode(n.left, schema), bindNode(n.right, schema)}
	case *cmpNode:
		return &cmpNode{op: n.op, left: bindNode(n.left, schema), right: bindNode(n.right, schema)}
	case *inNode:
		return &inNode{left: bindNode(n.left, schema), set: n.set}
	case *matchesNode:
		return &matchesNode{left: bindNode(n.left, schema), re: n.re}
	case *stringOpNode:
		return &stringOpNode{op: n.op, left: bindNode(n.left, schema), right: bindNode(n.right, schema)}
	}
	return n
}

// unknownCall returns the name of the first called function that is not
// one of expr's builtins, or "".
func unknownCall(n ast.Node) string {
	var found string
	ast.Walk(&n, visitorFunc(func(node *ast.Node) {
		call, ok := (*node).(*ast.CallNode)
		if !ok || found != "" {
			return
		}
		if id, ok := call.Callee.(*ast.IdentifierNode); ok && !isBuiltin(id.Value) {
			found = id.Value
		}
	}))
	return found
}

type visitorFunc func(*ast.Node)

func (f visitorFunc) Visit(n *ast.Node) { f(n) }

func isBuiltin(name string) bool {
	for _, b := range builtin.Names {
		if b == name {
			return true
		}
	}
	return false
}
