package guard

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// bigQueryUpdateWarnings explains in-place updates of a BigQuery table that
// can break readers or writers even though no data is deleted.
func bigQueryUpdateWarnings(rc *tfjson.ResourceChange) []Finding {
	before, _ := rc.Change.Before.(map[string]interface{})
	after, _ := rc.Change.After.(map[string]interface{})
	warn := func(msg string) Finding {
		return Finding{Level: Warning, Address: rc.Address, Type: rc.Type, Action: kindUpdate.String(), Message: msg}
	}
	var out []Finding
	if isUnknown(rc.Change.AfterUnknown, "schema") {
		out = append(out, warn("schema changes to a value known only after apply"))
	} else if bs, as := before["schema"], after["schema"]; !reflect.DeepEqual(bs, as) {
		diff, err := diffSchemas(bs, as)
		switch {
		case err != nil:
			out = append(out, warn("schema changes (cannot compare: "+err.Error()+")"))
		case diff.columns != "":
			out = append(out, warn("schema changes: "+diff.columns))
		}
		if diff.policyTags != "" {
			out = append(out, warn("policy tags change: "+diff.policyTags))
		}
		if err == nil && diff.columns == "" && diff.policyTags == "" {
			out = append(out, warn("schema changes (descriptions or formatting only)"))
		}
	}
	for _, attr := range []string{"time_partitioning", "range_partitioning"} {
		if isUnknown(rc.Change.AfterUnknown, attr) || !reflect.DeepEqual(emptyToNil(before[attr]), emptyToNil(after[attr])) {
			out = append(out, warn(attr+" changes: queries and writes that rely on the partitioning may break"))
		}
	}
	return out
}

// deletionProtectionWarning reports a protected resource whose planned state
// turns deletion protection off. A BigQuery table without the attribute at
// all (old provider versions) is reported too, since nothing protects it.
func deletionProtectionWarning(rc *tfjson.ResourceChange, kind changeKind) (Finding, bool) {
	after, ok := rc.Change.After.(map[string]interface{})
	if !ok || isUnknown(rc.Change.AfterUnknown, "deletion_protection") {
		return Finding{}, false
	}
	v, present := after["deletion_protection"]
	f := Finding{Level: Warning, Address: rc.Address, Type: rc.Type, Action: kind.String()}
	switch {
	case present && (v == false || v == "UNPROTECTED"):
		// Bigtable tables use the strings PROTECTED and UNPROTECTED.
		f.Message = fmt.Sprintf("deletion_protection is %v: a later plan could delete it without Terraform refusing", v)
		return f, true
	case !present && rc.Type == "google_bigquery_table":
		f.Message = "has no deletion_protection attribute (provider too old?): nothing stops Terraform deleting it"
		return f, true
	}
	return Finding{}, false
}

func isUnknown(afterUnknown interface{}, attr string) bool {
	m, ok := afterUnknown.(map[string]interface{})
	return ok && m[attr] == true
}

// emptyToNil makes an absent block and an empty block list compare equal:
// the provider prints either for "no partitioning".
func emptyToNil(v interface{}) interface{} {
	if l, ok := v.([]interface{}); ok && len(l) == 0 {
		return nil
	}
	return v
}

// schemaField is the part of a BigQuery schema field that matters to
// readers and writers.
type schemaField struct {
	Name       string        `json:"name"`
	Type       string        `json:"type"`
	Mode       string        `json:"mode"`
	Fields     []schemaField `json:"fields"`
	PolicyTags *struct {
		Names []string `json:"names"`
	} `json:"policyTags"`
}

type schemaDiff struct {
	columns    string
	policyTags string
}

// diffSchemas compares two schema attributes (JSON strings, as the Google
// provider stores them) column by column, nested columns as a.b.
func diffSchemas(before, after interface{}) (schemaDiff, error) {
	b, err := flattenSchema(before)
	if err != nil {
		return schemaDiff{}, fmt.Errorf("before: %w", err)
	}
	a, err := flattenSchema(after)
	if err != nil {
		return schemaDiff{}, fmt.Errorf("after: %w", err)
	}
	var added, removed, changed, tags []string
	for name, af := range a {
		bf, ok := b[name]
		if !ok {
			added = append(added, name)
			continue
		}
		if bf.typeMode != af.typeMode {
			changed = append(changed, fmt.Sprintf("%s (%s -> %s)", name, bf.typeMode, af.typeMode))
		}
		if bf.tags != af.tags {
			tags = append(tags, fmt.Sprintf("%s [%s] -> [%s]", name, bf.tags, af.tags))
		}
	}
	for name, bf := range b {
		if _, ok := a[name]; !ok {
			removed = append(removed, name)
			if bf.tags != "" {
				tags = append(tags, fmt.Sprintf("%s [%s] removed with the column", name, bf.tags))
			}
		}
	}
	var parts []string
	for _, p := range []struct {
		label string
		names []string
	}{{"removed", removed}, {"type or mode changed", changed}, {"added", added}} {
		if len(p.names) > 0 {
			sort.Strings(p.names)
			parts = append(parts, p.label+" "+strings.Join(p.names, ", "))
		}
	}
	sort.Strings(tags)
	return schemaDiff{columns: strings.Join(parts, "; "), policyTags: strings.Join(tags, "; ")}, nil
}

type flatField struct {
	typeMode string
	tags     string
}

func flattenSchema(v interface{}) (map[string]flatField, error) {
	out := map[string]flatField{}
	if v == nil {
		return out, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("schema is %T, want a JSON string", v)
	}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	var fields []schemaField
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		return nil, fmt.Errorf("schema is not a JSON list of fields: %w", err)
	}
	var walk func(prefix string, fs []schemaField)
	walk = func(prefix string, fs []schemaField) {
		for _, f := range fs {
			name := prefix + f.Name
			mode := f.Mode
			if mode == "" {
				mode = "NULLABLE" // BigQuery's own default for a field without a mode
			}
			ff := flatField{typeMode: strings.ToUpper(f.Type) + " " + strings.ToUpper(mode)}
			if f.PolicyTags != nil {
				names := append([]string(nil), f.PolicyTags.Names...)
				sort.Strings(names)
				ff.tags = strings.Join(names, ",")
			}
			out[name] = ff
			walk(name+".", f.Fields)
		}
	}
	walk("", fields)
	return out, nil
}
