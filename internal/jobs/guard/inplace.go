package guard

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
)

// inPlaceLossFindings reports in-place updates that delete data later
// without Terraform deleting anything: an expiry set on a table, a
// partition expiry or a bucket lifecycle Delete rule that reaches existing
// data (blocked), and defaults or retention that only stop protecting data
// (warnings). planTime is the plan's timestamp, zero when it has none.
func inPlaceLossFindings(rc *tfjson.ResourceChange, planTime time.Time) []Finding {
	before, _ := rc.Change.Before.(map[string]interface{})
	after, _ := rc.Change.After.(map[string]interface{})
	if before == nil || after == nil {
		return nil
	}
	f := lossFinder{rc: rc, before: before, after: after}
	switch rc.Type {
	case "google_bigquery_table":
		f.tableExpiration(planTime)
		f.partitionExpiration()
	case "google_bigquery_dataset":
		// BigQuery applies dataset defaults only to tables created after the
		// change, so existing data is not touched: a warning.
		for _, d := range []struct{ attr, why string }{
			{"default_partition_expiration_ms", "partitioned tables created in this dataset from now on drop each partition this long after its partition time (existing tables keep theirs)"},
			{"default_table_expiration_ms", "tables created in this dataset from now on are deleted this long after creation (existing tables keep theirs)"},
		} {
			if !f.unknown(d.attr) {
				f.shorterDuration(Warning, d.attr, before[d.attr], after[d.attr], d.why)
			}
		}
	case "google_storage_bucket":
		f.lifecycleDelete()
		f.retention()
	}
	return f.out
}

type lossFinder struct {
	rc            *tfjson.ResourceChange
	before, after map[string]interface{}
	out           []Finding
}

func (f *lossFinder) add(level Level, attr, old, new, msg string) {
	f.out = append(f.out, Finding{
		Level: level, Address: f.rc.Address, Type: f.rc.Type,
		Action: kindUpdate.String(), Attribute: attr, Old: old, New: new,
		Message: fmt.Sprintf("%s %s -> %s: %s", attr, old, new, msg),
	})
}

// unknown reports an attribute whose new value Terraform knows only after
// apply: the guard cannot judge it, so it says so.
func (f *lossFinder) unknown(attr string) bool {
	if !isUnknown(f.rc.Change.AfterUnknown, attr) {
		return false
	}
	f.out = append(f.out, Finding{
		Level: Warning, Address: f.rc.Address, Type: f.rc.Type,
		Action: kindUpdate.String(), Attribute: attr, New: "(known after apply)",
		Message: attr + " changes to a value known only after apply: check that it does not expire data",
	})
	return true
}

// number reads a numeric plan value; null, absent, 0 and "" mean "not
// set" (the provider prints 0 for an unset expiry).
func number(v interface{}) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, n != 0
	case string:
		var x float64
		if _, err := fmt.Sscan(n, &x); err == nil {
			return x, x != 0
		}
	}
	return 0, false
}

func showMillis(v float64, set bool) string {
	if !set {
		return "unset"
	}
	return fmt.Sprintf("%.0f (%s)", v, time.Duration(v)*time.Millisecond)
}

// tableExpiration blocks setting or advancing expiration_time: BigQuery
// deletes the whole table at that moment, however far away it is.
func (f *lossFinder) tableExpiration(planTime time.Time) {
	const attr = "expiration_time"
	if f.unknown(attr) {
		return
	}
	old, oldSet := number(f.before[attr])
	neu, newSet := number(f.after[attr])
	if !newSet || (oldSet && neu >= old) {
		return
	}
	at := time.UnixMilli(int64(neu)).UTC()
	when := at.Format(time.RFC3339)
	if !planTime.IsZero() {
		if d := at.Sub(planTime); d > 0 {
			when += fmt.Sprintf(", %s after the plan", roundDuration(d))
		} else {
			when += ", already past at the time of the plan"
		}
	}
	oldText := "unset"
	if oldSet {
		oldText = fmt.Sprintf("%.0f (%s)", old, time.UnixMilli(int64(old)).UTC().Format(time.RFC3339))
	}
	f.add(Blocked, attr, oldText, fmt.Sprintf("%.0f (%s)", neu, when),
		"BigQuery deletes the table, with its data, at that time")
}

// roundDuration prints d in days and hours, or minutes when short.
func roundDuration(d time.Duration) string {
	if d < time.Hour {
		return d.Round(time.Minute).String()
	}
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if days == 0 {
		return fmt.Sprintf("%dh", hours)
	}
	return fmt.Sprintf("%dd%dh", days, hours)
}

// partitionExpiration blocks a table's partition expiry set or shortened:
// BigQuery applies it to existing partitions at once.
func (f *lossFinder) partitionExpiration() {
	const attr = "time_partitioning[0].expiration_ms"
	if isUnknown(f.rc.Change.AfterUnknown, "time_partitioning") {
		return // the partitioning warning already says it is unknown
	}
	f.shorterDuration(Blocked, attr, firstBlockAttr(f.before, "time_partitioning", "expiration_ms"), firstBlockAttr(f.after, "time_partitioning", "expiration_ms"),
		"BigQuery drops every existing partition older than the new expiry")
}

// shorterDuration reports a millisecond duration that is set where it was
// unset, or lowered.
func (f *lossFinder) shorterDuration(level Level, attr string, before, after interface{}, why string) {
	old, oldSet := number(before)
	neu, newSet := number(after)
	if !newSet || (oldSet && neu >= old) {
		return
	}
	f.add(level, attr, showMillis(old, oldSet), showMillis(neu, newSet), why)
}

// firstBlockAttr reads block[0].attr of a nested block list.
func firstBlockAttr(m map[string]interface{}, block, attr string) interface{} {
	l, _ := m[block].([]interface{})
	if len(l) == 0 {
		return nil
	}
	b, _ := l[0].(map[string]interface{})
	return b[attr]
}

// lifecycleDelete blocks every lifecycle rule with a Delete action that the
// bucket did not have before: it deletes existing objects that match.
func (f *lossFinder) lifecycleDelete() {
	const attr = "lifecycle_rule"
	if f.unknown(attr) {
		return
	}
	old := deleteRules(f.before[attr])
	var added []string
	for _, r := range deleteRules(f.after[attr]) {
		if !containsRule(old, r) {
			added = append(added, describeCondition(r))
		}
	}
	if len(added) == 0 {
		return
	}
	oldText := "no Delete rule"
	if len(old) > 0 {
		var ds []string
		for _, r := range old {
			ds = append(ds, describeCondition(r))
		}
		oldText = "Delete if " + strings.Join(ds, "; Delete if ")
	}
	f.add(Blocked, attr, oldText, "Delete if "+strings.Join(added, "; Delete if "),
		"Cloud Storage deletes the existing objects that match, within about a day")
}

func deleteRules(v interface{}) []map[string]interface{} {
	var out []map[string]interface{}
	rules, _ := v.([]interface{})
	for _, r := range rules {
		rule, _ := r.(map[string]interface{})
		actions, _ := rule["action"].([]interface{})
		for _, a := range actions {
			if am, _ := a.(map[string]interface{}); am != nil && am["type"] == "Delete" {
				out = append(out, rule)
				break
			}
		}
	}
	return out
}

func containsRule(rules []map[string]interface{}, r map[string]interface{}) bool {
	for _, x := range rules {
		if reflect.DeepEqual(x["condition"], r["condition"]) {
			return true
		}
	}
	return false
}

// describeCondition prints a rule's set conditions as "age=1,
// with_state=ANY", sorted by name; an empty condition matches everything.
func describeCondition(rule map[string]interface{}) string {
	conds, _ := rule["condition"].([]interface{})
	var parts []string
	for _, c := range conds {
		cm, _ := c.(map[string]interface{})
		for k, v := range cm {
			switch x := v.(type) {
			case nil:
				continue
			case string:
				if x == "" {
					continue
				}
			case []interface{}:
				if len(x) == 0 {
					continue
				}
			case bool:
				if !x {
					continue
				}
			}
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if len(parts) == 0 {
		return "(any object)"
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// retention warns when a bucket's retention policy is removed or
// shortened: nothing is deleted, but objects can be deleted sooner.
func (f *lossFinder) retention() {
	const attr = "retention_policy"
	if f.unknown(attr) {
		return
	}
	old, oldSet := number(firstBlockAttr(f.before, attr, "retention_period"))
	if !oldSet {
		return
	}
	neu, newSet := number(firstBlockAttr(f.after, attr, "retention_period"))
	if newSet && neu >= old {
		return
	}
	secs := func(v float64) string { return fmt.Sprintf("%.0fs (%s)", v, time.Duration(v)*time.Second) }
	newText, why := "removed", "objects can be deleted or overwritten at any time (a lifecycle Delete rule or a user)"
	if newSet {
		newText, why = secs(neu), "objects can be deleted or overwritten sooner"
	}
	f.add(Warning, attr+".retention_period", secs(old), newText, why)
}
