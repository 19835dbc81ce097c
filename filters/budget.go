package filters

import (
	"github.com/expr-lang/expr/ast"
)

// expr's VM charges what an expression creates (ranges, arrays, repeated
// strings) to a memory budget per run, but not the steps of its loops:
// all(tags, all(tags, # != "")) over an event with a large array, or
// nested loops over literal lists, would run unbounded. stepCounter makes
// each step of a loop create a one-element array ([body][0]), so that steps
// are charged to the same budget and a run stops at WorkBudget.
type stepCounter struct{}

func (stepCounter) Visit(node *ast.Node) {
	p, ok := (*node).(*ast.PredicateNode)
	if !ok {
		return
	}
	body := p.Node
	tick := &ast.MemberNode{Node: &ast.ArrayNode{Nodes: []ast.Node{body}}, Property: &ast.IntegerNode{Value: 0}}
	tick.SetLocation(body.Location())
	tick.Node.SetLocation(body.Location())
	tick.Property.SetLocation(body.Location())
	p.Node = tick
}

// staticCost is the work that an expression's constant parts alone cost
// on every event, counted on the tree stepCounter has patched, in WorkBudget's units: ranges with constant bounds and
// literal arrays cost their length, each step of a loop over them costs
// one plus its body, and repeat with a constant count costs the count.
// Collections read from the event count as empty: their cost is only
// known per event, where the VM's budget applies.
func staticCost(n ast.Node) float64 {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "..":
			return staticLen(n) + staticCost(n.Left) + staticCost(n.Right)
		case "in", "not in":
			// A literal list after in is a set: one lookup.
			if arr, ok := n.Right.(*ast.ArrayNode); ok {
				return staticCost(n.Left) + sumCost(arr.Nodes)
			}
		}
	case *ast.ArrayNode:
		return float64(len(n.Nodes)) + sumCost(n.Nodes)
	case *ast.BuiltinNode:
		if n.Name == "repeat" && len(n.Arguments) == 2 {
			if k, ok := n.Arguments[1].(*ast.IntegerNode); ok && k.Value > 0 {
				return float64(k.Value) + staticCost(n.Arguments[0])
			}
		}
		if len(n.Arguments) >= 2 {
			if p, ok := n.Arguments[1].(*ast.PredicateNode); ok {
				// Loops that can stop early are charged every step:
				// the budget must hold for the events on which they
				// do not.
				// The body holds stepCounter's tick, so it costs at
				// least one.
				steps := staticLen(n.Arguments[0])
				return staticCost(n.Arguments[0]) + steps*staticCost(p.Node) + sumCost(n.Arguments[2:])
			}
		}
	}
	return sumCost(children(n))
}

func sumCost(nodes []ast.Node) float64 {
	var c float64
	for _, n := range nodes {
		c += staticCost(n)
	}
	return c
}

// staticLen is the length of a collection known before any event: a range
// with constant bounds or a literal array; 0 when it depends on the event.
func staticLen(n ast.Node) float64 {
	switch n := n.(type) {
	case *ast.BinaryNode:
		if n.Operator != ".." {
			return 0
		}
		from, ok1 := constInt(n.Left)
		to, ok2 := constInt(n.Right)
		if ok1 && ok2 && to >= from {
			return to - from + 1
		}
	case *ast.ArrayNode:
		return float64(len(n.Nodes))
	}
	return 0
}

func constInt(n ast.Node) (float64, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.UnaryNode:
		if v, ok := constInt(n.Node); ok && n.Operator == "-" {
			return -v, true
		}
	}
	return 0, false
}

// children returns a node's direct children, as ast.Walk visits them.
func children(n ast.Node) []ast.Node {
	switch n := n.(type) {
	case *ast.UnaryNode:
		return []ast.Node{n.Node}
	case *ast.BinaryNode:
		return []ast.Node{n.Left, n.Right}
	case *ast.ChainNode:
		return []ast.Node{n.Node}
	case *ast.MemberNode:
		return []ast.Node{n.Node, n.Property}
	case *ast.SliceNode:
		return nonNil(n.Node, n.From, n.To)
	case *ast.CallNode:
		return append([]ast.Node{n.Callee}, n.Arguments...)
	case *ast.BuiltinNode:
		return n.Arguments
	case *ast.PredicateNode:
		return []ast.Node{n.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{n.Value, n.Expr}
	case *ast.SequenceNode:
		return n.Nodes
	case *ast.ConditionalNode:
		return []ast.Node{n.Cond, n.Exp1, n.Exp2}
	case *ast.ArrayNode:
		return n.Nodes
	case *ast.MapNode:
		return n.Pairs
	case *ast.PairNode:
		return []ast.Node{n.Key, n.Value}
	}
	return nil
}

func nonNil(nodes ...ast.Node) []ast.Node {
	out := nodes[:0]
	for _, n := range nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}
