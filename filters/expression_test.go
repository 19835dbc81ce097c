package filters_test

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/beametrics/beametrics/filters"
)

// diffEvents are the events of the differential test: typical records and
// ones where fields are missing, null or of an unexpected type.
var diffEvents = []string{
	`{"service":"checkout","user":"u-123","http":{"status":500,"method":"GET","path":"/api/v1/orders/1","latency_ms":12.5},"tags":["a","b"],"ok":true,"n":null,"o":{"k":"v"},"attributes":{"pipeline-env":"blue"}}`,
	`{"service":"healthz","user":"bob","http":{"status":200,"method":"POST","path":"/healthz"},"ok":false}`,
	`{"service":"search","http":{"status":503.0},"user":"alice","level":"ERROR"}`,
	`{"service":"x","http":"not an object","user":5}`,
	`{"service":null,"http":{"status":"500"},"user":null}`,
	`{"http":{"status":404,"latency_ms":"12"},"user":"u-9","service":"Checkout"}`,
	`{"service":"catalog","http":{"status":true},"o":[1,2],"tags":"a,b"}`,
	`{}`,
}

// diffExprs are expressions over diffEvents. Some run on the fast path and
// some on the VM; the test checks both kinds give what expr itself gives.
var diffExprs = []string{
	`http.status >= 500 && service != "healthz"`,
	`http.status >= 500`,
	`http.status > 500`,
	`http.status < 300`,
	`http.status <= 200`,
	`http.status == 500`,
	`http.status == 500.0`,
	`http.status == "500"`,
	`http.status in [500, 503]`,
	`service not in ["checkout", "search"]`,
	`service in ["checkout", "search"]`,
	`service not in ["checkout"]`,
	`service == "checkout" || service == "search"`,
	`service == "checkout" and http.method == "GET"`,
	`not (service == "checkout")`,
	`!(http.status >= 500)`,
	`service == nil`,
	`service != nil`,
	`user == nil`,
	`n == nil`,
	`o == nil`,
	`o != nil`,
	`ok`,
	`ok == true`,
	`!ok`,
	`ok && http.status == 500`,
	`true`,
	`false || service == "x"`,
	`nil == nil`,
	`1 == 1.0`,
	`service matches "^check"`,
	`service matches "(?i)^check"`,
	`http.path matches "^/api/v1/(orders|items)/"`,
	`user matches "^u-"`,
	`service contains "ea"`,
	`service startsWith "heal"`,
	`service endsWith "out"`,
	`user < "b"`,
	`user >= "alice"`,
	`http.status > -1`,
	`http.status >= 5e2`,
	`attributes["pipeline-env"] == "blue"`,
	`http?.status == 500`,
	`tags contains "a"`,
	`level == "ERROR" || http.status >= 500`,
	// The VM only:
	`len(user) > 3`,
	`http.status + 1 > 500`,
	`http.status * 2 >= 1000`,
	`"a" in tags`,
	`tags[0] == "a"`,
	`-http.status < -400`,
	`http.status % 100 == 0`,
	`lower(service) == "checkout"`,
	`service in ["a", lower("CHECKOUT")]`,
	`len(tags) == 2`,
	`(user ?? "none") == "none"`,
	`http.latency_ms > 10`,
	`int(http.latency_ms) == 12`,
}

// TestExpressionMatchesExpr is the differential test: for every expression
// and event, filters.Expression (fast path or VM) agrees with expr.Run over
// the event decoded by encoding/json, where a run error means no match.
func TestExpressionMatchesExpr(t *testing.T) {
	fast, slow := 0, 0
	for _, src := range diffExprs {
		pred, err := filters.Expression(src)
		if err != nil {
			t.Errorf("Expression(%s): %v", src, err)
			continue
		}
		if filters.IsFast(pred) {
			fast++
		} else {
			slow++
		}
		prog, err := expr.Compile(src, expr.AllowUndefinedVariables(), expr.AsBool())
		if err != nil {
			t.Fatalf("expr.Compile(%s): %v", src, err)
		}
		for _, body := range diffEvents {
			var env map[string]any
			if err := json.Unmarshal([]byte(body), &env); err != nil {
				t.Fatal(err)
			}
			want := false
			if out, err := expr.Run(prog, env); err == nil {
				want, _ = out.(bool)
			}
			r := reader(t, body, nil)
			if got := pred.Match(r); got != want {
				t.Errorf("%s over %s: got %v, expr gives %v (fast path: %v)", src, body, got, want, filters.IsFast(pred))
			}
		}
	}
	// Both paths must be exercised, or the test proves less than it says.
	if fast < 30 || slow < 10 {
		t.Errorf("%d expressions on the fast path and %d on the VM; the lists no longer cover both", fast, slow)
	}
}

func TestExpressionPaths(t *testing.T) {
	for _, tc := range []struct {
		src  string
		fast bool
	}{
		{`http.status >= 500 && service != "healthz"`, true},
		{`service in ["a", "b"]`, true},
		{`user matches "^u-"`, true},
		{`attributes["pipeline-env"] == "blue"`, true},
		{`len(user) > 3`, false},
		{`http.status + 1 > 500`, false},
		{`"a" in tags`, false},
	} {
		p, err := filters.Expression(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if filters.IsFast(p) != tc.fast {
			t.Errorf("IsFast(%s) = %v, want %v", tc.src, filters.IsFast(p), tc.fast)
		}
	}
	// Conditions are not expressions, and always fast.
	c, _ := filters.Condition("a", "equals", 1, true)
	if !filters.IsFast(c) {
		t.Error("IsFast(condition) = false")
	}
}

// Expressions the fast path does not cover still give the right answer.
func TestExpressionVMFallback(t *testing.T) {
	for _, tc := range []struct {
		src, body string
		want      bool
	}{
		{`len(user) > 3`, `{"user":"alice"}`, true},
		{`len(user) > 3`, `{"user":"bob"}`, false},
		{`len(user) > 3`, `{}`, false}, // len(nil) is an error: no match
		{`http.status + 1 == 501`, `{"http":{"status":500}}`, true},
		{`http.bytes / 1024 > 1`, `{"http":{"bytes":4096}}`, true},
		{`http.bytes / 1024 > 1`, `{"http":{"bytes":100}}`, false},
		{`"b" in tags`, `{"tags":["a","b"]}`, true},
		{`"c" in tags`, `{"tags":["a","b"]}`, false},
		{`attributes.env == "prod"`, `{"x":1}`, false},
	} {
		p, err := filters.Expression(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if got := p.Match(reader(t, tc.body, nil)); got != tc.want {
			t.Errorf("%s over %s = %v, want %v", tc.src, tc.body, got, tc.want)
		}
	}
	// The VM sees message attributes too.
	p, _ := filters.Expression(`len(attributes.env) == 4`)
	if !p.Match(reader(t, `{}`, map[string]string{"env": "prod"})) {
		t.Error("the VM does not see message attributes")
	}
	p, _ = filters.Expression(`attributes["pipeline-env"] == "blue"`)
	if !p.Match(reader(t, `{}`, map[string]string{"pipeline-env": "blue"})) {
		t.Error("the fast path does not see message attributes")
	}
}

func TestExpressionErrors(t *testing.T) {
	for _, src := range []string{
		`http.status >=`,
		`foo(`,
		`service == "unterminated`,
		`1 +`,
		`"text"`,       // not a bool
		`1 + 2`,        // not a bool
		`1 + "a" == 2`, // mismatched types
		`service matches "("`,
		``,
	} {
		_, err := filters.Expression(src)
		if err == nil {
			t.Errorf("Expression(%q) accepted", src)
			continue
		}
		if !strings.HasPrefix(err.Error(), "bad filter expression") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Expression(%q) = %q, want one line starting with \"bad filter expression\"", src, err)
		}
	}
}

func TestFastExpressionDoesNotAllocate(t *testing.T) {
	r := reader(t, diffEvents[0], nil)
	p, err := filters.Expression(`http.status >= 500 && service != "healthz" && http.path matches "^/api/" && service in ["checkout", "x"]`)
	if err != nil || !filters.IsFast(p) {
		t.Fatalf("not on the fast path: %v", err)
	}
	if !p.Match(r) {
		t.Fatal("does not match")
	}
	if n := testing.AllocsPerRun(200, func() { p.Match(r) }); n != 0 {
		t.Errorf("the fast path allocates %v times per event", n)
	}
}

// A path through a missing field or a non-object (http.status where http is
// absent or a string) is an error for expr, so the expression does not
// match; the fast path reads it as nil instead, so negations match. The two
// paths of one filter must not disagree: adding a VM-only term to an
// expression would change what its other terms mean.
func TestExpressionThroughNonObject(t *testing.T) {
	for _, tc := range []struct{ src, body string }{
		{`http.status != 500`, `{}`},
		{`http.status != 500`, `{"http":"not an object"}`},
		{`http.status not in [500, 503]`, `{}`},
		{`http.status.deeper == nil`, `{"http":{"status":500}}`},
		{`!(http.status == 500)`, `{}`},
	} {
		p, err := filters.Expression(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		prog, _ := expr.Compile(tc.src, expr.AllowUndefinedVariables(), expr.AsBool())
		var env map[string]any
		_ = json.Unmarshal([]byte(tc.body), &env)
		want := false
		if out, err := expr.Run(prog, env); err == nil {
			want, _ = out.(bool)
		}
		if got := p.Match(reader(t, tc.body, nil)); got != want {
			t.Errorf("%s over %s: got %v, expr gives %v", tc.src, tc.body, got, want)
		}
	}
}

// A call of a function that does not exist can never succeed, so the
// metric would silently stay at zero: it must be a config error.
func TestExpressionUnknownFunction(t *testing.T) {
	for _, src := range []string{`nosuchfunc(1) == 2`, `lenght(user) > 3`} {
		if _, err := filters.Expression(src); err == nil {
			t.Errorf("Expression(%q) accepted", src)
		}
	}
}

// TestExpressionRandomDifferential extends the differential test to
// thousands of generated expressions built from the constructs the fast
// path covers. It keeps out the known disagreements, which have their own
// skipped tests: the events all have "http" as an object (paths through a
// non-object), the string operators are left out (nil operands), "in"
// lists mix kinds (expr's typed sets), and && and || get bool operands.
func TestExpressionRandomDifferential(t *testing.T) {
	var events []string
	for _, body := range diffEvents {
		var env map[string]any
		_ = json.Unmarshal([]byte(body), &env)
		if _, ok := env["http"].(map[string]any); ok {
			events = append(events, body)
		}
	}
	envs := make([]map[string]any, len(events))
	for i, body := range events {
		_ = json.Unmarshal([]byte(body), &envs[i])
	}
	rng := rand.New(rand.NewPCG(5, 6))
	compiled, mismatches := 0, 0
	for range 3000 {
		src := genExpr(rng, 3)
		prog, err := expr.Compile(src, expr.AllowUndefinedVariables(), expr.AsBool())
		pred, ferr := filters.Expression(src)
		if (err == nil) != (ferr == nil) {
			t.Errorf("%s: expr.Compile error %v, filters.Expression error %v", src, err, ferr)
			continue
		}
		if err != nil {
			continue
		}
		compiled++
		if !filters.IsFast(pred) {
			t.Errorf("%s is not on the fast path", src)
		}
		for i, body := range events {
			want := false
			if out, err := expr.Run(prog, envs[i]); err == nil {
				want, _ = out.(bool)
			}
			if got := pred.Match(reader(t, body, nil)); got != want {
				mismatches++
				if mismatches <= 20 {
					t.Errorf("%s over %s: got %v, expr gives %v", src, body, got, want)
				}
			}
		}
	}
	if compiled < 1000 {
		t.Errorf("only %d of 3000 generated expressions compile; the generator is off", compiled)
	}
}

var (
	genFields = []string{"service", "user", "ok", "n", "o", "tags", "level", "http.status", "http.method",
		"http.path", "http.latency_ms", "missing", "http?.status"}
	genLiterals = []string{"500", "200.0", "-1", "12.5", `"checkout"`, `"500"`, `"u-123"`, `"GET"`, `""`, "true", "false", "nil"}
)

func genOperand(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return genLiterals[rng.IntN(len(genLiterals))]
	}
	return genFields[rng.IntN(len(genFields))]
}

func genExpr(rng *rand.Rand, depth int) string {
	k := rng.IntN(10)
	if depth == 0 && k < 4 {
		k += 4
	}
	switch k {
	case 0:
		return genExpr(rng, depth-1) + " && " + genExpr(rng, depth-1)
	case 1:
		return genExpr(rng, depth-1) + " || " + genExpr(rng, depth-1)
	case 2:
		return "!(" + genExpr(rng, depth-1) + ")"
	case 3:
		return "(" + genExpr(rng, depth-1) + ") == " + []string{"true", "false"}[rng.IntN(2)]
	case 4, 5:
		ops := []string{"==", "!=", "<", "<=", ">", ">="}
		return genOperand(rng) + " " + ops[rng.IntN(len(ops))] + " " + genOperand(rng)
	case 6, 7:
		// A number and a string in every list, so that expr keeps the
		// list generic instead of making it a typed set.
		lits := []string{[]string{"500", "200.0", "-1"}[rng.IntN(3)], []string{`"checkout"`, `"GET"`, `""`}[rng.IntN(3)]}
		for range rng.IntN(3) {
			lits = append(lits, genLiterals[rng.IntN(len(genLiterals))])
		}
		rng.Shuffle(len(lits), func(i, j int) { lits[i], lits[j] = lits[j], lits[i] })
		op := []string{" in ", " not in "}[rng.IntN(2)]
		return genFields[rng.IntN(len(genFields))] + op + "[" + strings.Join(lits, ", ") + "]"
	default:
		// Not a bare field: expr's && and || pass non-bool operands
		// through as values, which the fast path (rightly) refuses.
		return genFields[rng.IntN(len(genFields))] + " == nil"
	}
}

// expr defines matches, contains, startsWith and endsWith on a nil operand
// as false; the fast path calls it an error, so their negations differ.
func TestExpressionStringOperatorsOnNil(t *testing.T) {
	for _, src := range []string{
		`!(user matches "^u-")`, `!(user contains "x")`, `!(user startsWith "u")`, `!(user endsWith "3")`,
		`(user matches "^u-") == false`, `!("abc" contains user)`,
	} {
		p, err := filters.Expression(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range []string{`{}`, `{"user":null}`} {
			if got, want := p.Match(reader(t, body, nil)), exprOracle(t, src, body); got != want {
				t.Errorf("%s over %s = %v; expr gives %v", src, body, got, want)
			}
		}
	}
}

// exprOracle is what expr itself gives for src over body, a run error
// meaning no match.
func exprOracle(t *testing.T, src, body string) bool {
	t.Helper()
	prog, err := expr.Compile(src, expr.AllowUndefinedVariables(), expr.AsBool())
	if err != nil {
		t.Fatalf("expr.Compile(%s): %v", src, err)
	}
	var env map[string]any
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	out, err := expr.Run(prog, env)
	if err != nil {
		return false
	}
	b, _ := out.(bool)
	return b
}
