package guard

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/beametrics/beametrics/internal/testing/textcheck"
)

// lossPlan is written by hand in the plan JSON format (format_version
// 1.2): updates that lose data without a delete, moved resources, and
// bucket objects. Plan time 2025-12-05T00:00:00Z; 1765152000000 ms is
// 2025-12-08T00:00:00Z (3 days later), 1767830400000 is 2026-01-08.
const lossPlan = `{"format_version":"1.2","terraform_version":"1.11.4","timestamp":"2025-12-05T00:00:00Z","resource_changes":[
{"address":"google_bigquery_table.expiring","mode":"managed","type":"google_bigquery_table","name":"expiring",
 "change":{"actions":["update"],"before":{"table_id":"expiring","deletion_protection":true,"expiration_time":0},
  "after":{"table_id":"expiring","deletion_protection":true,"expiration_time":1765152000000},"after_unknown":{}}},
{"address":"google_bigquery_table.later","mode":"managed","type":"google_bigquery_table","name":"later",
 "change":{"actions":["update"],"before":{"table_id":"later","deletion_protection":true,"expiration_time":1765152000000},
  "after":{"table_id":"later","deletion_protection":true,"expiration_time":1767830400000},"after_unknown":{}}},
{"address":"google_bigquery_table.parts","mode":"managed","type":"google_bigquery_table","name":"parts",
 "change":{"actions":["update"],"before":{"table_id":"parts","deletion_protection":true,"time_partitioning":[{"type":"DAY","field":"ts","expiration_ms":7776000000}]},
  "after":{"table_id":"parts","deletion_protection":true,"time_partitioning":[{"type":"DAY","field":"ts","expiration_ms":86400000}]},"after_unknown":{}}},
{"address":"google_bigquery_dataset.lake","mode":"managed","type":"google_bigquery_dataset","name":"lake",
 "change":{"actions":["update"],"before":{"dataset_id":"lake","default_partition_expiration_ms":null,"default_table_expiration_ms":5184000000},
  "after":{"dataset_id":"lake","default_partition_expiration_ms":2592000000,"default_table_expiration_ms":8640000000},"after_unknown":{}}},
{"address":"google_storage_bucket.raw","mode":"managed","type":"google_storage_bucket","name":"raw",
 "change":{"actions":["update"],
  "before":{"name":"raw","retention_policy":[{"is_locked":false,"retention_period":604800}],
   "lifecycle_rule":[{"action":[{"type":"SetStorageClass","storage_class":"COLDLINE"}],"condition":[{"age":30,"with_state":"ANY","matches_prefix":[]}]}]},
  "after":{"name":"raw","retention_policy":[],
   "lifecycle_rule":[{"action":[{"type":"SetStorageClass","storage_class":"COLDLINE"}],"condition":[{"age":30,"with_state":"ANY","matches_prefix":[]}]},
                     {"action":[{"type":"Delete","storage_class":""}],"condition":[{"age":1,"with_state":"ANY","matches_prefix":[],"created_before":""}]}]},
  "after_unknown":{}}},
{"address":"google_storage_bucket_object.export","mode":"managed","type":"google_storage_bucket_object","name":"export",
 "change":{"actions":["delete"],"before":{"name":"export/2025.csv","bucket":"raw"},"after":null},"action_reason":"delete_because_no_resource_config"},
{"address":"google_storage_bucket_object.config","mode":"managed","type":"google_storage_bucket_object","name":"config",
 "change":{"actions":["delete","create"],"before":{"name":"config.yaml","bucket":"raw"},"after":{"name":"config.yaml","bucket":"raw"},"replace_paths":[["content"]]}},
{"address":"google_bigquery_table.orders_v2","previous_address":"google_bigquery_table.orders","mode":"managed","type":"google_bigquery_table","name":"orders_v2",
 "change":{"actions":["delete","create"],"before":{"table_id":"orders","deletion_protection":true},"after":{"table_id":"orders_v2","deletion_protection":true},"replace_paths":[["table_id"]]}}
]}`

func checkString(t *testing.T, in string, policy Policy) Report {
	t.Helper()
	plan, err := ParsePlan(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ParsePlan: %v", err)
	}
	rep, err := Check(plan, policy)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return rep
}

// findingRow is what the in-place tests compare of a finding.
type findingRow struct{ level, addr, attr, old, new string }

// wantFindings fails t unless r's findings are want, in order.
func wantFindings(t *testing.T, r Report, want []findingRow) {
	t.Helper()
	var got []findingRow
	for _, f := range r.Findings {
		got = append(got, findingRow{string(f.Level), f.Address, f.Attribute, f.Old, f.New})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
}

func TestInPlaceDataLossIsBlockedOrWarnedWithOldAndNewValues(t *testing.T) {
	rep := checkString(t, lossPlan, NewPolicy(nil, nil))
	wantFindings(t, rep, []findingRow{
		{"blocked", "google_bigquery_table.expiring", "expiration_time", "unset", "1765152000000 (2025-12-08T00:00:00Z, 3d0h after the plan)"},
		{"blocked", "google_bigquery_table.parts", "time_partitioning[0].expiration_ms", "7776000000 (2160h0m0s)", "86400000 (24h0m0s)"},
		{"warning", "google_bigquery_table.parts", "", "", ""}, // the partitioning changed: the existing warning
		{"warning", "google_bigquery_dataset.lake", "default_partition_expiration_ms", "unset", "2592000000 (720h0m0s)"},
		{"blocked", "google_storage_bucket.raw", "lifecycle_rule", "no Delete rule", "Delete if age=1, with_state=ANY"},
		{"warning", "google_storage_bucket.raw", "retention_policy.retention_period", "604800s (168h0m0s)", "removed"},
		{"blocked", "google_storage_bucket_object.export", "", "", ""},
		{"warning", "google_storage_bucket_object.config", "", "", ""},
		{"blocked", "google_bigquery_table.orders_v2", "", "", ""},
	})
	if !rep.Blocked {
		t.Error("plan not blocked")
	}
	for _, f := range rep.Findings {
		if f.Address == "google_bigquery_table.orders_v2" && f.PreviousAddress != "google_bigquery_table.orders" {
			t.Errorf("moved resource lacks its previous address: %+v", f)
		}
		if f.Address == "google_bigquery_table.expiring" && !strings.Contains(f.Message, "deletes the table") {
			t.Errorf("expiry finding does not say what happens: %q", f.Message)
		}
	}
}

func TestAllowTakesEitherAddressOfAMovedResource(t *testing.T) {
	others := []string{"google_bigquery_table.expiring", "google_bigquery_table.parts", "google_storage_bucket.raw", "google_storage_bucket_object.export"}
	for _, addr := range []string{"google_bigquery_table.orders", "google_bigquery_table.orders_v2"} {
		rep := checkString(t, lossPlan, NewPolicy(nil, append([]string{addr}, others...)))
		if rep.Blocked {
			t.Errorf("--allow %s: still blocked: %q", addr, byLevel(rep, Blocked))
		}
		for _, f := range rep.Findings {
			if f.Level == Warning && strings.Contains(f.Message, "matches no") {
				t.Errorf("--allow %s reported unused: %q", addr, f.Message)
			}
		}
	}
	var out, errb bytes.Buffer
	code := PlanMain([]string{"-"}, strings.NewReader(lossPlan), &out, &errb)
	if code != ExitBlocked {
		t.Errorf("exit %d, want %d; stderr %s", code, ExitBlocked, errb.String())
	}
	textcheck.Contains(t, "text output", out.String(),
		"BLOCKED google_bigquery_table.orders_v2 (moved from google_bigquery_table.orders) [replace (delete then create)]: would be replaced, losing its data; forced by a change to table_id\n",
		"BLOCKED google_bigquery_table.expiring [update]: expiration_time unset -> 1765152000000 (2025-12-08T00:00:00Z, 3d0h after the plan): BigQuery deletes the table, with its data, at that time\n",
	)
}

func TestErroredPlanIsRefused(t *testing.T) {
	in := `{"format_version":"1.2","errored":true,"resource_changes":[]}`
	if _, err := ParsePlan(strings.NewReader(in)); !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), "marked errored") {
		t.Errorf("ParsePlan = %v, want ErrBadPlan saying the plan is errored", err)
	}
	var out, errb bytes.Buffer
	if code := PlanMain([]string{"-"}, strings.NewReader(in), &out, &errb); code != ExitBadInput || !strings.Contains(errb.String(), "errored") {
		t.Errorf("exit %d stderr %q, want %d naming the errored plan", code, errb.String(), ExitBadInput)
	}
	// errored: false is an ordinary plan.
	if _, err := ParsePlan(strings.NewReader(`{"format_version":"1.2","errored":false,"resource_changes":[]}`)); err != nil {
		t.Errorf("errored=false refused: %v", err)
	}
}

// shorterPlan is written by hand: the "set, or lowered/earlier" halves of
// the rules that lossPlan covers only as "set" or "removed" (the tables
// keep deletion_protection so that its own warning stays out). Plan time
// 2025-12-05T00:00:00Z. Milliseconds: 1767830400000 is 2026-01-08T00:00Z,
// 1765152000000 is 2025-12-08T00:00Z (3 days after the plan),
// 1764806400000 is 2025-12-04T00:00Z (a day before it). Durations: 90 days
// = 7776000000 ms = 2160 h, 1 day = 86400000 ms, 60 days = 5184000000 ms =
// 1440 h, 7 days = 604800000 ms = 168 h; 7 days = 604800 s, 1 day = 86400 s.
const shorterPlan = `{"format_version":"1.2","timestamp":"2025-12-05T00:00:00Z","resource_changes":[
{"address":"google_bigquery_table.sooner","mode":"managed","type":"google_bigquery_table","name":"sooner",
 "change":{"actions":["update"],"before":{"table_id":"sooner","deletion_protection":true,"expiration_time":1767830400000},
  "after":{"table_id":"sooner","deletion_protection":true,"expiration_time":1765152000000},"after_unknown":{}}},
{"address":"google_bigquery_table.past","mode":"managed","type":"google_bigquery_table","name":"past",
 "change":{"actions":["update"],"before":{"table_id":"past","deletion_protection":true,"expiration_time":null},
  "after":{"table_id":"past","deletion_protection":true,"expiration_time":1764806400000},"after_unknown":{}}},
{"address":"google_bigquery_dataset.shrink","mode":"managed","type":"google_bigquery_dataset","name":"shrink",
 "change":{"actions":["update"],"before":{"dataset_id":"shrink","default_partition_expiration_ms":7776000000,"default_table_expiration_ms":5184000000},
  "after":{"dataset_id":"shrink","default_partition_expiration_ms":86400000,"default_table_expiration_ms":604800000},"after_unknown":{}}},
{"address":"google_storage_bucket.kept","mode":"managed","type":"google_storage_bucket","name":"kept",
 "change":{"actions":["update"],"before":{"name":"kept","retention_policy":[{"is_locked":false,"retention_period":604800}]},
  "after":{"name":"kept","retention_policy":[{"is_locked":false,"retention_period":86400}]},"after_unknown":{}}}
]}`

func TestShorterExpiriesAndRetentionAreFound(t *testing.T) {
	rep := checkString(t, shorterPlan, NewPolicy(nil, nil))
	wantFindings(t, rep, []findingRow{
		{"blocked", "google_bigquery_table.sooner", "expiration_time", "1767830400000 (2026-01-08T00:00:00Z)", "1765152000000 (2025-12-08T00:00:00Z, 3d0h after the plan)"},
		{"blocked", "google_bigquery_table.past", "expiration_time", "unset", "1764806400000 (2025-12-04T00:00:00Z, already past at the time of the plan)"},
		{"warning", "google_bigquery_dataset.shrink", "default_partition_expiration_ms", "7776000000 (2160h0m0s)", "86400000 (24h0m0s)"},
		{"warning", "google_bigquery_dataset.shrink", "default_table_expiration_ms", "5184000000 (1440h0m0s)", "604800000 (168h0m0s)"},
		{"warning", "google_storage_bucket.kept", "retention_policy.retention_period", "604800s (168h0m0s)", "86400s (24h0m0s)"},
	})
}
