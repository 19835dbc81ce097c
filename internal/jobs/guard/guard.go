// Package guard checks a Terraform plan, as printed by
// `terraform show -json PLANFILE`, for changes that would destroy data:
// deleting or replacing a data-bearing resource such as a BigQuery table.
// It also blocks in-place updates that delete data later (an expiry set on
// a table, a bucket lifecycle Delete rule), and warns about risky in-place
// updates of BigQuery tables and about data-bearing resources left without
// deletion protection or retention.
package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
)

// DefaultProtectedTypes are the resource types whose deletion or
// replacement loses data (or, for Pub/Sub, loses undelivered messages).
// Deleting a Spanner or Bigtable instance deletes every database or table
// in it, so the instances are listed too.
var DefaultProtectedTypes = []string{
	"google_bigquery_dataset",
	"google_bigquery_table",
	"google_bigtable_instance",
	"google_bigtable_table",
	"google_pubsub_subscription",
	"google_pubsub_topic",
	"google_spanner_database",
	"google_spanner_instance",
	"google_sql_database",
	"google_sql_database_instance",
	"google_storage_bucket",
	"google_storage_bucket_object",
}

// replaceOnlyWarns are protected types whose replacement is how their
// content is normally updated (a new object from the configuration's
// source): a replacement is a warning, a deletion still blocks.
var replaceOnlyWarns = map[string]bool{
	"google_storage_bucket_object": true,
}

// Policy says which resources are protected and which reviewed changes
// may go through anyway.
type Policy struct {
	// ProtectedTypes are resource types that must not be deleted or replaced.
	ProtectedTypes []string
	// Allowed are exact resource instance addresses, as Terraform prints
	// them, whose deletion or replacement has been reviewed.
	Allowed []string
}

// NewPolicy returns a policy protecting DefaultProtectedTypes plus extra,
// with the given allowed addresses.
func NewPolicy(extraProtected, allowed []string) Policy {
	types := append(append([]string(nil), DefaultProtectedTypes...), extraProtected...)
	return Policy{ProtectedTypes: types, Allowed: allowed}
}

// Level is how serious a finding is.
type Level string

const (
	// Blocked findings fail the check.
	Blocked Level = "blocked"
	// Allowed findings would have been blocked but were allowed by address.
	Allowed Level = "allowed"
	// Warning findings are reported and do not fail the check.
	Warning Level = "warning"
)

// Finding is one thing in the plan a reviewer should see.
type Finding struct {
	Level   Level  `json:"level"`
	Address string `json:"address"`
	// PreviousAddress is the address the resource had before a moved
	// block; --allow accepts either.
	PreviousAddress string `json:"previous_address,omitempty"`
	Type            string `json:"type"`
	// Action describes the planned change: "delete", "replace (delete then
	// create)", "replace (create then delete)", "update", "create", "no-op".
	Action string `json:"action"`
	// ForcedBy names the attributes whose change forces a replacement,
	// from the plan's replace_paths.
	ForcedBy []string `json:"forced_by,omitempty"`
	// Attribute, Old and New describe an in-place change that loses data
	// (for example expiration_time, unset -> a date).
	Attribute string `json:"attribute,omitempty"`
	Old       string `json:"old,omitempty"`
	New       string `json:"new,omitempty"`
	Message   string `json:"message"`
}

// Summary counts the planned changes of managed resources by kind.
type Summary struct {
	Create  int `json:"create"`
	Update  int `json:"update"`
	Delete  int `json:"delete"`
	Replace int `json:"replace"`
	NoOp    int `json:"no_op"`
	Read    int `json:"read"`
	Forget  int `json:"forget"`
}

// Report is the result of checking one plan.
type Report struct {
	FormatVersion    string    `json:"format_version"`
	TerraformVersion string    `json:"terraform_version,omitempty"`
	Blocked          bool      `json:"blocked"`
	Summary          Summary   `json:"summary"`
	Findings         []Finding `json:"findings"`
}

// Counts returns how many findings have each level.
func (r Report) Counts() (blocked, allowed, warnings int) {
	for _, f := range r.Findings {
		switch f.Level {
		case Blocked:
			blocked++
		case Allowed:
			allowed++
		case Warning:
			warnings++
		}
	}
	return blocked, allowed, warnings
}

// ErrBadPlan wraps every problem with the input itself (not JSON, not a
// plan, an unsupported format version, a change with unknown actions).
var ErrBadPlan = errors.New("bad plan input")

// ParsePlan reads the JSON printed by `terraform show -json PLANFILE`.
func ParsePlan(r io.Reader) (*tfjson.Plan, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: reading: %w", ErrBadPlan, err)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: input is empty", ErrBadPlan)
	}
	if trimmed[0] != '{' {
		// The binary plan file is a zip archive; say how to get the JSON.
		return nil, fmt.Errorf("%w: input is not a JSON object (a saved plan file must first be converted with `terraform show -json PLANFILE`)", ErrBadPlan)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		return nil, fmt.Errorf("%w: invalid JSON: %w", ErrBadPlan, err)
	}
	if _, ok := probe["format_version"]; !ok {
		return nil, fmt.Errorf("%w: no format_version: this is not the output of `terraform show -json PLANFILE`", ErrBadPlan)
	}
	if raw, ok := probe["errored"]; ok {
		var errored bool
		if err := json.Unmarshal(raw, &errored); err != nil {
			return nil, fmt.Errorf("%w: errored is not true or false: %s", ErrBadPlan, raw)
		}
		if errored {
			// Terraform stopped planning part-way: what is listed is not
			// what apply would do, so passing it would mean nothing.
			return nil, fmt.Errorf("%w: the plan is marked errored (Terraform could not finish planning): it is not the plan that would be applied; fix the errors `terraform plan` printed and plan again", ErrBadPlan)
		}
	}
	if _, isState := probe["values"]; isState {
		if _, hasChanges := probe["resource_changes"]; !hasChanges {
			return nil, fmt.Errorf("%w: this looks like a state, not a plan (no resource_changes): pass `terraform show -json PLANFILE`", ErrBadPlan)
		}
	}
	var plan tfjson.Plan
	if err := json.Unmarshal(trimmed, &plan); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPlan, err)
	}
	return &plan, nil
}

// Check applies the policy to the plan. An error means the plan holds
// something the guard cannot judge; it is never a partial pass.
func Check(plan *tfjson.Plan, policy Policy) (Report, error) {
	protected := make(map[string]bool, len(policy.ProtectedTypes))
	for _, t := range policy.ProtectedTypes {
		protected[t] = true
	}
	allowed := make(map[string]bool, len(policy.Allowed))
	for _, a := range policy.Allowed {
		allowed[a] = true
	}
	usedAllow := map[string]bool{}

	var planTime time.Time
	if plan.Timestamp != "" {
		t, err := time.Parse(time.RFC3339, plan.Timestamp)
		if err != nil {
			return Report{}, fmt.Errorf("%w: timestamp %q is not RFC 3339: %w", ErrBadPlan, plan.Timestamp, err)
		}
		planTime = t
	}

	rep := Report{FormatVersion: plan.FormatVersion, TerraformVersion: plan.TerraformVersion, Findings: []Finding{}}
	for i, rc := range plan.ResourceChanges {
		if rc == nil || rc.Change == nil {
			return Report{}, fmt.Errorf("%w: resource_changes[%d] has no change", ErrBadPlan, i)
		}
		if rc.Address == "" || rc.Type == "" {
			return Report{}, fmt.Errorf("%w: resource_changes[%d] has no address or type", ErrBadPlan, i)
		}
		kind, err := classify(rc.Change.Actions)
		if err != nil {
			return Report{}, fmt.Errorf("%w: %s: %w", ErrBadPlan, rc.Address, err)
		}
		count(&rep.Summary, kind)
		if rc.Mode == tfjson.DataResourceMode {
			continue // reading a data source changes nothing
		}

		var found []Finding
		if (kind == kindDelete || kind.isReplace()) && protected[rc.Type] {
			found = append(found, destructiveFinding(rc, kind))
		}
		if kind == kindUpdate {
			found = append(found, inPlaceLossFindings(rc, planTime)...)
		}
		if kind == kindUpdate && rc.Type == "google_bigquery_table" {
			found = append(found, bigQueryUpdateWarnings(rc)...)
		}
		if kind != kindDelete && kind != kindForget && protected[rc.Type] {
			if f, ok := deletionProtectionWarning(rc, kind); ok {
				found = append(found, f)
			}
		}
		for _, f := range found {
			f.PreviousAddress = rc.PreviousAddress
			if f.Level == Blocked {
				// A moved resource may be allowed by its old or new address.
				if by := allowedBy(allowed, f.Address, f.PreviousAddress); by != "" {
					usedAllow[by] = true
					f.Level = Allowed
					f.Message += " (allowed by --allow " + by + ")"
				} else {
					rep.Blocked = true
				}
			}
			rep.Findings = append(rep.Findings, f)
		}
	}
	var unused []string
	for _, a := range policy.Allowed {
		if !usedAllow[a] {
			unused = append(unused, a)
		}
	}
	sort.Strings(unused)
	for _, a := range dedupe(unused) {
		// A typo in --allow must not look like a reviewed change.
		rep.Findings = append(rep.Findings, Finding{
			Level: Warning, Address: a, Action: "none",
			Message: "--allow " + a + " matches no blocked change in this plan (neither a new nor a previous address)",
		})
	}
	return rep, nil
}

// allowedBy returns the address, new or previous, that --allow named.
func allowedBy(allowed map[string]bool, addr, previous string) string {
	if allowed[addr] {
		return addr
	}
	if previous != "" && allowed[previous] {
		return previous
	}
	return ""
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

type changeKind int

const (
	kindNoOp changeKind = iota
	kindCreate
	kindRead
	kindUpdate
	kindDelete
	kindReplaceDeleteFirst
	kindReplaceCreateFirst
	kindForget
)

func (k changeKind) isReplace() bool {
	return k == kindReplaceDeleteFirst || k == kindReplaceCreateFirst
}

func (k changeKind) String() string {
	switch k {
	case kindNoOp:
		return "no-op"
	case kindCreate:
		return "create"
	case kindRead:
		return "read"
	case kindUpdate:
		return "update"
	case kindDelete:
		return "delete"
	case kindReplaceDeleteFirst:
		return "replace (delete then create)"
	case kindReplaceCreateFirst:
		return "replace (create then delete)"
	case kindForget:
		return "forget"
	}
	return "unknown"
}

// classify maps the actions list to one kind. Any other combination is an
// error: a guard that skipped what it does not understand would pass it.
func classify(a tfjson.Actions) (changeKind, error) {
	switch {
	case a.NoOp():
		return kindNoOp, nil
	case a.Create():
		return kindCreate, nil
	case a.Read():
		return kindRead, nil
	case a.Update():
		return kindUpdate, nil
	case a.Delete():
		return kindDelete, nil
	case a.DestroyBeforeCreate():
		return kindReplaceDeleteFirst, nil
	case a.CreateBeforeDestroy():
		return kindReplaceCreateFirst, nil
	case a.Forget():
		return kindForget, nil
	}
	return 0, fmt.Errorf("unknown actions %q", []tfjson.Action(a))
}

func count(s *Summary, k changeKind) {
	switch k {
	case kindNoOp:
		s.NoOp++
	case kindCreate:
		s.Create++
	case kindRead:
		s.Read++
	case kindUpdate:
		s.Update++
	case kindDelete:
		s.Delete++
	case kindReplaceDeleteFirst, kindReplaceCreateFirst:
		s.Replace++
	case kindForget:
		s.Forget++
	}
}

func destructiveFinding(rc *tfjson.ResourceChange, kind changeKind) Finding {
	f := destructiveFindingOf(rc, kind)
	if kind.isReplace() && replaceOnlyWarns[rc.Type] {
		f.Level = Warning
		f.Message += "; the old content is kept only if the bucket has object versioning"
	}
	return f
}

func destructiveFindingOf(rc *tfjson.ResourceChange, kind changeKind) Finding {
	f := Finding{Level: Blocked, Address: rc.Address, Type: rc.Type, Action: kind.String()}
	if kind == kindDelete {
		f.Message = "would be deleted, with its data"
		if rc.DeposedKey != "" {
			// The object a create_before_destroy replacement left behind.
			f.Message = "deposed object " + rc.DeposedKey + " would be deleted, with its data"
		}
		if why := deleteReason(rc.ActionReason); why != "" {
			f.Message += " (" + why + ")"
		}
		return f
	}
	f.ForcedBy = formatPaths(rc.Change.ReplacePaths)
	switch {
	case len(f.ForcedBy) > 0:
		f.Message = "would be replaced, losing its data; forced by a change to " + strings.Join(f.ForcedBy, ", ")
	case rc.ActionReason == tfjson.ActionReasonReplaceBecauseTainted:
		f.Message = "would be replaced, losing its data, because it is tainted"
	case rc.ActionReason == tfjson.ActionReasonReplaceByRequest:
		f.Message = "would be replaced, losing its data, because -replace asked for it"
	case rc.ActionReason == tfjson.ActionReasonReplaceByTriggers:
		f.Message = "would be replaced, losing its data, because of lifecycle.replace_triggered_by"
	default:
		f.Message = "would be replaced, losing its data; the plan does not say which attribute forces it"
	}
	return f
}

func deleteReason(r tfjson.ActionReason) string {
	switch r {
	case tfjson.ActionReasonDeleteBecauseNoResourceConfig:
		return "its resource block was removed"
	case tfjson.ActionReasonDeleteBecauseWrongRepetition:
		return "count/for_each was added or removed"
	case tfjson.ActionReasonDeleteBecauseCountIndex:
		return "its index is beyond count"
	case tfjson.ActionReasonDeleteBecauseEachKey:
		return "its key is no longer in for_each"
	case tfjson.ActionReasonDeleteBecauseNoModule:
		return "its module was removed"
	case tfjson.ActionReasonDeleteBecauseNoMoveTarget:
		return "it was moved to an address with no configuration"
	}
	return string(r)
}

// formatPaths renders replace_paths, a list of paths whose steps are
// attribute names or map keys (strings) and list indexes (numbers), as
// "schema", "time_partitioning[0].type".
func formatPaths(paths []interface{}) []string {
	var out []string
	for _, p := range paths {
		steps, ok := p.([]interface{})
		if !ok {
			out = append(out, fmt.Sprint(p))
			continue
		}
		var b strings.Builder
		for _, s := range steps {
			switch v := s.(type) {
			case string:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(v)
			case float64:
				fmt.Fprintf(&b, "[%d]", int64(v))
			default:
				fmt.Fprintf(&b, "[%v]", v)
			}
		}
		out = append(out, b.String())
	}
	return out
}
