package constraints

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	f, err := Parse([]byte(`
dags:
  sales_daily:
    earliest_start: "01:00"
    must_finish_by: "24:00"
    after: [raw_ingest]
  finance_close:
    fixed: true
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]DAG{
		"sales_daily":   {EarliestStart: 60, MustFinishBy: 1440, After: []string{"raw_ingest"}},
		"finance_close": {EarliestStart: -1, MustFinishBy: -1, Fixed: true},
	}
	if !reflect.DeepEqual(f.DAGs, want) {
		t.Fatalf("got %+v, want %+v", f.DAGs, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"dags:\n  a:\n    earliest: \"01:00\"\n", "field earliest not found"},
		{"dags:\n  a:\n    earliest_start: \"1am\"\n", "not a time of day"},
		{"dags:\n  a:\n    must_finish_by: \"24:30\"\n", "not a time of day"},
		{"dags:\n  a:\n    fixed: true\n    after: [b]\n", "fixed DAG takes no window"},
		{"dags:\n  a:\n    after: [a]\n", "cannot wait for itself"},
		{"dag:\n  a: {}\n", "field dag not found"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestClock(t *testing.T) {
	for _, m := range []int{0, 59, 60, 1439} {
		got, err := ParseClock(Clock(m))
		if err != nil || got != m {
			t.Errorf("round trip of %d: %d %v", m, got, err)
		}
	}
	if Clock(1440+61) != "01:01" || Clock(-1) != "23:59" {
		t.Errorf("Clock wraps wrongly: %s %s", Clock(1501), Clock(-1))
	}
}
