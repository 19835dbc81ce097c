package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// BenchmarkParseAndCheck measures a plan with 5,000 resource changes,
// built by repeating the changes of testdata/risky.json under new names.
func BenchmarkParseAndCheck(b *testing.B) {
	raw, err := os.ReadFile("testdata/risky.json")
	if err != nil {
		b.Fatal(err)
	}
	var plan map[string]any
	if err := json.Unmarshal(raw, &plan); err != nil {
		b.Fatal(err)
	}
	base := plan["resource_changes"].([]any)
	var changes []any
	for i := 0; len(changes) < 5000; i++ {
		for _, c := range base {
			m := map[string]any{}
			for k, v := range c.(map[string]any) {
				m[k] = v
			}
			m["address"] = fmt.Sprintf("module.m%d.%s", i, m["address"])
			changes = append(changes, m)
		}
	}
	plan["resource_changes"] = changes
	big, err := json.Marshal(plan)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(big)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := ParsePlan(bytes.NewReader(big))
		if err != nil {
			b.Fatal(err)
		}
		rep, err := Check(p, NewPolicy(nil, nil))
		if err != nil || !rep.Blocked {
			b.Fatalf("blocked=%v err=%v", rep.Blocked, err)
		}
	}
}
