package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func checkFile(t *testing.T, path string, policy Policy) Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	plan, err := ParsePlan(f)
	if err != nil {
		t.Fatalf("ParsePlan(%s): %v", path, err)
	}
	rep, err := Check(plan, policy)
	if err != nil {
		t.Fatalf("Check(%s): %v", path, err)
	}
	return rep
}

// byLevel returns "address [action] forced-by" lines for one level, sorted.
func byLevel(r Report, l Level) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Level != l {
			continue
		}
		s := f.Address + " [" + f.Action + "]"
		if len(f.ForcedBy) > 0 {
			s += " forced by " + strings.Join(f.ForcedBy, ",")
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func TestRiskyPlanBlocksEveryDestructiveChangeOfProtectedTypes(t *testing.T) {
	rep := checkFile(t, "testdata/risky.json", NewPolicy(nil, nil))
	if !rep.Blocked {
		t.Fatal("plan with table deletion not blocked")
	}
	want := []string{
		`google_bigquery_table.events [delete]`,
		`google_pubsub_subscription.orders[0] [replace (create then delete)] forced by topic`,
		`google_sql_database_instance.main [replace (delete then create)]`,
		`google_storage_bucket.archive[0] [replace (delete then create)] forced by location`,
		`google_storage_bucket.b["logs"] [delete]`,
		`module.warehouse.google_bigquery_table.t [replace (delete then create)] forced by schema`,
	}
	if got := byLevel(rep, Blocked); !reflect.DeepEqual(got, want) {
		t.Errorf("blocked:\n got %q\nwant %q", got, want)
	}
	wantSummary := Summary{Create: 1, Update: 2, Delete: 3, Replace: 4, NoOp: 1, Read: 1}
	if rep.Summary != wantSummary {
		t.Errorf("summary %+v, want %+v", rep.Summary, wantSummary)
	}
	for _, f := range rep.Findings {
		if f.Address == "google_compute_instance.vm" {
			t.Errorf("unprotected type reported: %+v", f)
		}
		if f.Address == "google_sql_database_instance.main" && !strings.Contains(f.Message, "tainted") {
			t.Errorf("tainted replacement does not say why: %q", f.Message)
		}
	}
}

func TestRiskyPlanWarnsOnBigQuerySchemaPolicyTagsPartitioningAndProtection(t *testing.T) {
	rep := checkFile(t, "testdata/risky.json", NewPolicy(nil, nil))
	var warnings []string
	for _, f := range rep.Findings {
		if f.Level == Warning {
			warnings = append(warnings, f.Address+": "+f.Message)
		}
	}
	want := []string{
		"google_bigquery_table.daily: schema changes: type or mode changed amount (NUMERIC NULLABLE -> NUMERIC REQUIRED); added country, payload.region",
		"google_bigquery_table.daily: policy tags change: user_email [projects/p/locations/us/taxonomies/1/policyTags/pii] -> []",
		"google_bigquery_table.daily: time_partitioning changes: queries and writes that rely on the partitioning may break",
		"google_bigquery_table.scratch: deletion_protection is false: a later plan could delete it without Terraform refusing",
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", warnings, want)
	}
}

func TestAllowLetsReviewedAddressesThroughAndFlagsUnusedOnes(t *testing.T) {
	allow := []string{
		`google_bigquery_table.events`, `module.warehouse.google_bigquery_table.t`, `google_storage_bucket.b["logs"]`,
		`google_storage_bucket.archive[0]`, `google_pubsub_subscription.orders[0]`, `google_sql_database_instance.main`,
	}
	rep := checkFile(t, "testdata/risky.json", NewPolicy(nil, allow))
	if rep.Blocked {
		t.Fatalf("still blocked: %q", byLevel(rep, Blocked))
	}
	if n := len(byLevel(rep, Allowed)); n != 6 {
		t.Errorf("%d allowed findings, want 6", n)
	}

	// Allowing one instance does not allow its siblings or the whole resource.
	rep = checkFile(t, "testdata/risky.json", NewPolicy(nil, []string{`google_storage_bucket.b`, `google_storage_bucket.archive[0]`}))
	if !rep.Blocked {
		t.Fatal("allowing google_storage_bucket.b unblocked everything")
	}
	blocked := strings.Join(byLevel(rep, Blocked), "\n")
	if !strings.Contains(blocked, `google_storage_bucket.b["logs"]`) || strings.Contains(blocked, "archive[0]") {
		t.Errorf("blocked list wrong:\n%s", blocked)
	}
	var unused bool
	for _, f := range rep.Findings {
		if f.Level == Warning && f.Address == "google_storage_bucket.b" && strings.Contains(f.Message, "matches no") {
			unused = true
		}
	}
	if !unused {
		t.Error("an --allow that matches nothing is not reported")
	}
}

func TestSafePlanPasses(t *testing.T) {
	rep := checkFile(t, "testdata/safe.json", NewPolicy(nil, nil))
	if rep.Blocked || len(rep.Findings) != 0 {
		t.Fatalf("safe plan: blocked=%v findings=%+v", rep.Blocked, rep.Findings)
	}
	if rep.Summary != (Summary{Create: 1, Update: 1, Replace: 1, NoOp: 1}) {
		t.Errorf("summary %+v", rep.Summary)
	}
}

// The fixture testdata/terraform/plan.json was made by a real Terraform
// (generate.sh) from configuration that uses only built-in resources.
func TestRealTerraformPlanWithProtectedExtraType(t *testing.T) {
	rep := checkFile(t, "testdata/terraform/plan.json", NewPolicy(nil, nil))
	if rep.Blocked {
		t.Fatal("terraform_data is not protected by default, yet the plan was blocked")
	}
	rep = checkFile(t, "testdata/terraform/plan.json", NewPolicy([]string{"terraform_data"}, nil))
	want := []string{
		`module.store.terraform_data.table[0] [replace (delete then create)] forced by triggers_replace`,
		`terraform_data.bucket["logs"] [replace (delete then create)] forced by triggers_replace`,
		`terraform_data.bucket["raw"] [delete]`,
		`terraform_data.cbd [replace (create then delete)] forced by triggers_replace`,
		`terraform_data.gone[0] [delete]`,
	}
	if got := byLevel(rep, Blocked); !reflect.DeepEqual(got, want) {
		t.Errorf("blocked:\n got %q\nwant %q", got, want)
	}
	if rep.Summary != (Summary{Create: 1, Update: 1, Delete: 2, Replace: 3, NoOp: 2, Read: 1}) {
		t.Errorf("summary %+v", rep.Summary)
	}
}

// Regenerates the real plan with the installed Terraform and checks the
// guard reads it the same way, so the fixture cannot drift from Terraform.
func TestFreshTerraformPlanMatchesFixture(t *testing.T) {
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Skip("terraform not on PATH: cannot regenerate the real plan fixture")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("sh not on PATH: cannot run testdata/terraform/generate.sh")
	}
	out := filepath.Join(t.TempDir(), "plan.json")
	cmd := exec.Command("sh", "testdata/terraform/generate.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, b)
	}
	policy := NewPolicy([]string{"terraform_data"}, nil)
	fresh, fixture := checkFile(t, out, policy), checkFile(t, "testdata/terraform/plan.json", policy)
	fresh.TerraformVersion, fixture.TerraformVersion = "", ""
	if !reflect.DeepEqual(fresh, fixture) {
		t.Errorf("fresh plan differs from fixture:\nfresh   %+v\nfixture %+v", fresh, fixture)
	}
}

func TestBadInputIsAClearError(t *testing.T) {
	cases := map[string]string{
		"testdata/bad_truncated.json":      "invalid JSON",
		"testdata/bad_format_version.json": "unsupported plan format version",
		"testdata/bad_state.json":          "looks like a state",
		"testdata/bad_unknown_action.json": `unknown actions ["delete" "explode"]`,
		"testdata/bad_no_change.json":      "has no change",
	}
	for path, want := range cases {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := ParsePlan(f)
		f.Close()
		if err == nil {
			_, err = Check(plan, NewPolicy(nil, nil))
		}
		if err == nil || !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want ErrBadPlan containing %q", path, err, want)
		}
	}
	// The JSON decoder's error stays reachable beside ErrBadPlan.
	var syntax *json.SyntaxError
	if _, err := ParsePlan(strings.NewReader(`{"format_version": nope}`)); !errors.Is(err, ErrBadPlan) || !errors.As(err, &syntax) {
		t.Errorf("ParsePlan of broken JSON = %v, want ErrBadPlan wrapping a *json.SyntaxError", err)
	}
	for _, in := range []string{"", "   \n", "PK\x03\x04binaryplan", `{"resource_changes": []}`, `[1,2]`} {
		if _, err := ParsePlan(strings.NewReader(in)); !errors.Is(err, ErrBadPlan) {
			t.Errorf("ParsePlan(%q) = %v, want ErrBadPlan", in, err)
		}
	}
}

func TestSchemaDiffNestedAndUnparsable(t *testing.T) {
	before := `[{"name":"a","type":"STRING"},{"name":"r","type":"RECORD","fields":[{"name":"x","type":"INT64"}]}]`
	after := `[{"name":"a","type":"STRING","mode":"NULLABLE","description":"now documented"},{"name":"r","type":"RECORD","fields":[{"name":"x","type":"STRING"}]}]`
	d, err := diffSchemas(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if d.columns != "type or mode changed r.x (INT64 NULLABLE -> STRING NULLABLE)" || d.policyTags != "" {
		t.Errorf("diff = %+v", d)
	}
	if _, err := diffSchemas(before, "{not json"); err == nil {
		t.Error("unparsable schema compared without error")
	}
}

func TestPlanMainExitCodesAndFormats(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := PlanMain(args, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, _ := run("testdata/safe.json"); code != ExitOK || !strings.Contains(out, "guard plan: OK") {
		t.Errorf("safe: code %d out %q", code, out)
	}
	code, out, _ := run("testdata/risky.json", "--format", "github")
	if code != ExitBlocked {
		t.Errorf("risky: code %d, want %d", code, ExitBlocked)
	}
	if !strings.Contains(out, "::error title=terraform plan guard%3A google_bigquery_table.events::google_bigquery_table.events [delete]: would be deleted") {
		t.Errorf("github output lacks the error annotation:\n%s", out)
	}
	if !strings.Contains(out, "::warning title=terraform plan guard%3A google_bigquery_table.scratch::") {
		t.Errorf("github output lacks the warning annotation:\n%s", out)
	}
	// Flags after the file name, repeatable --allow and --protect, JSON output.
	code, out, _ = run("testdata/terraform/plan.json", "--protect", "terraform_data", "--format=json",
		"--allow", `terraform_data.bucket["logs"]`, "--allow", `terraform_data.bucket["raw"]`, "--allow", "terraform_data.cbd",
		"--allow", "terraform_data.gone[0]", "--allow", "module.store.terraform_data.table[0]")
	if code != ExitOK {
		t.Errorf("all allowed: code %d\n%s", code, out)
	}
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(byLevel(rep, Allowed)) != 5 {
		t.Errorf("json output: err %v, report %+v", err, rep)
	}
	for _, args := range [][]string{
		{"testdata/bad_truncated.json"}, {"testdata/missing.json"}, {}, {"a.json", "b.json"},
		{"--format", "xml", "testdata/safe.json"}, {"--bogus", "testdata/safe.json"},
	} {
		if code, _, errOut := run(args...); code != ExitBadInput || errOut == "" {
			t.Errorf("%q: code %d stderr %q, want %d and a message", args, code, errOut, ExitBadInput)
		}
	}
}

func TestDeposedObjectDeletionIsBlocked(t *testing.T) {
	in := `{"format_version":"1.2","resource_changes":[{"address":"google_storage_bucket.b","mode":"managed","type":"google_storage_bucket","name":"b","deposed":"00000001","change":{"actions":["delete"],"before":{"name":"b"},"after":null}},
	{"address":"data.google_storage_bucket.x","mode":"data","type":"google_storage_bucket","name":"x","change":{"actions":["read"],"before":null,"after":{}}}]}`
	plan, err := ParsePlan(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Check(plan, NewPolicy(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Blocked || len(rep.Findings) != 1 || !strings.Contains(rep.Findings[0].Message, "deposed object 00000001") {
		t.Errorf("report %+v", rep)
	}
	if rep.Summary != (Summary{Delete: 1, Read: 1}) {
		t.Errorf("summary %+v", rep.Summary)
	}
}
