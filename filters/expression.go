package filters

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/vm"

	"github.com/beametrics/beametrics/internal/event"
)

// WorkBudget is what one evaluation of an expression on expr's virtual
// machine may spend on one event: every step of all, any, filter, map and
// the other functions that take a predicate costs one, and so does every
// value the expression creates (the numbers of a range 1..n, the elements
// of an array, the bytes of repeat). An evaluation that would exceed it
// stops with a filter error instead of stalling the worker.
const WorkBudget = 100_000

// Expression compiles an expr-lang expression over the event. Fields are
// read by name (http.status, attributes["pipeline-env"]); a missing field is
// nil. The expression must give a bool.
//
// The common forms (comparisons, and/or/not, in, matches, contains,
// startsWith, endsWith over fields and literals) run on a compiled tree that
// reads the event in place without allocating. Anything else runs on the
// expr virtual machine over the event converted to Go values, which is
// correct but allocates, within WorkBudget per event. An expression whose
// constant parts alone exceed the budget (all(1..1000000, ...),
// repeat(s, 1000000)) is refused here.
func Expression(src string) (*Expr, error) {
	// MaxNodes is off: the work budget bounds the work, and a long `in`
	// list is many nodes but one set lookup. The tree is parsed and
	// type-checked once ("a" + 1 is an error even where the fast path would
	// never evaluate it); only the VM path is then optimized and compiled
	// into a program.
	cfg := conf.CreateNew()
	for _, opt := range []expr.Option{expr.AllowUndefinedVariables(), expr.AsBool(), expr.MaxNodes(0), expr.Patch(stepCounter{})} {
		opt(cfg)
	}
	cfg.Check()
	tree, err := checker.ParseCheck(src, cfg)
	if err != nil {
		return nil, exprError(err)
	}
	// Undefined names are allowed so that absent fields read as nil, but
	// that also lets a misspelt function through, which would then fail
	// on every event: refuse calls of anything but expr's builtins.
	if name := unknownCall(tree.Node); name != "" {
		return nil, fmt.Errorf("bad filter expression: unknown function %s (known: %s)", name, strings.Join(builtin.Names, ", "))
	}
	if cost := staticCost(tree.Node); cost >= WorkBudget {
		return nil, fmt.Errorf("bad filter expression: it would do at least %.0f steps per event, over the budget of %d (see the README on expression costs)", cost, WorkBudget)
	}
	e := &Expr{src: src}
	if fast, ok := compileNode(tree.Node); ok {
		e.fast = fast
		return e, nil
	}
	if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
		return nil, exprError(err)
	}
	if e.program, err = compiler.Compile(tree, cfg); err != nil {
		return nil, exprError(err)
	}
	return e, nil
}

// exprError makes one line of an expr error: expr draws a caret under the
// source on further lines, config errors are one line each, and the
// message names the column.
func exprError(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("bad filter expression: %s", msg)
}

// IsFast reports whether p is an expression that runs on the allocation-free
// path; validate prints it so users can see the cost of what they wrote.
func IsFast(p Predicate) bool {
	e, isExpr := p.(*Expr)
	return !isExpr || e.fast != nil
}

// Expr is a compiled filter expression. Unlike a condition, it can fail on
// an event (a type error, the work budget): Eval says why.
type Expr struct {
	src     string
	fast    exprNode    // the allocation-free tree, or nil
	program *vm.Program // expr's program when fast is nil
}

// Match reports whether the expression is true for the event; a failure is
// no match.
func (e *Expr) Match(r *event.Reader) bool {
	ok, _ := e.Eval(r)
	return ok
}

// Eval evaluates the expression. failure is "" when it ran, else why it
// could not run for this event (a type error, the work budget); the event
// then does not match. A missing or null field is not a failure: a
// comparison with it, a path through it, or using it as the result makes
// the event not match, as a condition on a missing field does.
func (e *Expr) Eval(r *event.Reader) (match bool, failure string) {
	if e.fast != nil {
		v := e.fast.eval(r)
		switch v.kind {
		case kBool:
			return v.b, ""
		case kInvalid, kNil:
			return false, v.why
		}
		return false, "the expression gave " + v.kind.String() + ", not a bool"
	}
	m := vmPool.Get().(*vm.VM)
	out, err := m.Run(e.program, r.Map())
	vmPool.Put(m)
	if err != nil {
		return false, vmFailure(err)
	}
	b, ok := out.(bool)
	if !ok && out != nil {
		return false, fmt.Sprintf("the expression gave %T, not a bool", out)
	}
	return b, ""
}

// vmPool holds expr VMs, which are not safe for concurrent use; one per
// evaluation would allocate.
var vmPool = sync.Pool{New: func() any { return &vm.VM{MemoryBudget: WorkBudget} }}

// vmFailure turns an error of expr's VM into a failure reason, or "" when
// the error comes from a nil operand (a missing field): expr reports
// `status > 5` on a missing status as an error, the fast path and
// conditions as no match, and the two paths must agree. expr names a nil
// operand's type <nil> in its messages.
func vmFailure(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if strings.Contains(msg, "<nil>") {
		return ""
	}
	if strings.Contains(msg, "memory budget exceeded") {
		return fmt.Sprintf("over the work budget of %d steps per event", WorkBudget)
	}
	return msg
}

// operand is an intermediate value of the fast evaluator.
type operand struct {
	kind opKind
	s    []byte
	f    float64
	b    bool
	arr  event.Value // for kArray
	// why is, for kInvalid, the failure; "" when the expression failed
	// because of a nil operand (a missing field), which is no match but
	// not a failure. It is a constant string: failing does not allocate.
	why string
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

func (k opKind) String() string {
	return [...]string{"an error", "nil", "a string", "a number", "a bool", "an array", "an object"}[k]
}

// fail is the result of an operation on operands it is not defined for:
// a failure naming it, or a quiet no-match when an operand is nil.
func fail(why string, ops ...operand) operand {
	for _, o := range ops {
		if o.kind == kInvalid {
			return o // the first failure wins
		}
	}
	for _, o := range ops {
		if o.kind == kNil {
			return operand{}
		}
	}
	return operand{why: why}
}

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
		set := &valueSet{}
		for _, e := range arr.Nodes {
			c, ok := compileNode(e)
			cn, isConst := c.(*constNode)
			if !ok || !isConst {
				return nil, false
			}
			switch cn.kind {
			case kNil:
				set.hasNull = true
			case kString:
				set.addString(string(cn.s))
			case kNumber:
				set.addNumber(cn.f)
			case kBool:
				set.addBool(cn.b)
			}
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
		return newCmpNode(n.Operator, left, right), true
	case "contains", "startsWith", "endsWith":
		return newStringOpNode(n.Operator, left, right), true
	}
	return nil, false
}

type constNode operand

func (c *constNode) eval(*event.Reader) operand { return operand(*c) }

// fieldNode reads a field. Like expr, it fails (rather than giving nil)
// when a path goes through something that is not an object: `http.status`
// on an event where http is a string is a failure. Through a missing or
// null parent it is a quiet no-match (expr fails there too, and the
// failure is not counted: see Eval).
type fieldNode struct {
	path    event.Path
	parents []event.Path // the proper prefixes of path
	notObj  []string     // per parent: the failure when it is not an object
}

func newFieldNode(keys []string) *fieldNode {
	f := &fieldNode{path: event.PathFromKeys(keys)}
	for i := 1; i < len(keys); i++ {
		f.parents = append(f.parents, event.PathFromKeys(keys[:i]))
		f.notObj = append(f.notObj, fmt.Sprintf("cannot read %s: %s is not an object", f.path.String(), strings.Join(keys[:i], ".")))
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
			switch r.Lookup(&f.parents[i]).Kind() {
			case event.Object:
			case event.Missing, event.Null:
				return operand{}
			default:
				return operand{why: f.notObj[i]}
			}
		}
	}
	return operandOf(v)
}

type notNode struct{ inner exprNode }

func (n *notNode) eval(r *event.Reader) operand {
	v := n.inner.eval(r)
	if v.kind != kBool {
		return fail("not needs a bool", v)
	}
	return operand{kind: kBool, b: !v.b}
}

type andNode struct{ left, right exprNode }

func (n *andNode) eval(r *event.Reader) operand {
	l := n.left.eval(r)
	if l.kind != kBool {
		return fail("and needs bools", l)
	}
	if !l.b {
		return l
	}
	rv := n.right.eval(r)
	if rv.kind != kBool {
		return fail("and needs bools", rv)
	}
	return rv
}

type orNode struct{ left, right exprNode }

func (n *orNode) eval(r *event.Reader) operand {
	l := n.left.eval(r)
	if l.kind != kBool {
		return fail("or needs bools", l)
	}
	if l.b {
		return l
	}
	rv := n.right.eval(r)
	if rv.kind != kBool {
		return fail("or needs bools", rv)
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
	if l.kind == kInvalid {
		return l
	}
	if rv.kind == kInvalid {
		return rv
	}
	return operand{kind: kBool, b: equalOperands(l, rv)}
}

type cmpNode struct {
	op          string
	left, right exprNode
	mismatch    string // the failure for operands of different types
}

func newCmpNode(op string, left, right exprNode) *cmpNode {
	return &cmpNode{op: op, left: left, right: right,
		mismatch: op + " needs two numbers or two strings"}
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
			return operand{why: "comparison with NaN"}
		}
	case l.kind == kString && rv.kind == kString:
		c = bytes.Compare(l.s, rv.s)
	default:
		return fail(n.mismatch, l, rv)
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

// inNode is `x in [literals]`: one set lookup, however long the list.
type inNode struct {
	left exprNode
	set  *valueSet
}

func (n *inNode) eval(r *event.Reader) operand {
	l := n.left.eval(r)
	var found bool
	switch l.kind {
	case kInvalid:
		return l
	case kNil:
		found = n.set.hasNull
	case kString:
		found = n.set.hasString(l.s)
	case kNumber:
		found = n.set.hasNumber(l.f)
	case kBool:
		found = n.set.hasBool(l.b)
	}
	return operand{kind: kBool, b: found}
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
		return fail("matches needs a string", l)
	}
	return operand{kind: kBool, b: n.re.Match(l.s)}
}

type stringOpNode struct {
	op          string
	left, right exprNode
	mismatch    string
}

func newStringOpNode(op string, left, right exprNode) *stringOpNode {
	return &stringOpNode{op: op, left: left, right: right, mismatch: op + " needs two strings"}
}

func (n *stringOpNode) eval(r *event.Reader) operand {
	l, rv := n.left.eval(r), n.right.eval(r)
	if (l.kind == kNil && (rv.kind == kString || rv.kind == kNil)) || (rv.kind == kNil && l.kind == kString) {
		return operand{kind: kBool} // expr: string operators on nil are false
	}
	if l.kind != kString || rv.kind != kString {
		return fail(n.mismatch, l, rv)
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
		c := &fieldNode{path: n.path, parents: append([]event.Path(nil), n.parents...), notObj: n.notObj}
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
		return &cmpNode{op: n.op, left: bindNode(n.left, schema), right: bindNode(n.right, schema), mismatch: n.mismatch}
	case *inNode:
		return &inNode{left: bindNode(n.left, schema), set: n.set}
	case *matchesNode:
		return &matchesNode{left: bindNode(n.left, schema), re: n.re}
	case *stringOpNode:
		return &stringOpNode{op: n.op, left: bindNode(n.left, schema), right: bindNode(n.right, schema), mismatch: n.mismatch}
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
