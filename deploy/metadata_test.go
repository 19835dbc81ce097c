// Package deploy holds no code: its tests check the flex template files
// (metadata.json, scripts, Dockerfile, Terraform) against the binary.
package deploy

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	// Beam's own flags (--project, --region, --staging_location, ...) are
	// defined on the global flag set by the runners beamx links in, as in
	// the binary.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/beametrics/beametrics/pipeline"
)

type metadata struct {
	Name                 string      `json:"name"`
	Description          string      `json:"description"`
	Streaming            *bool       `json:"streaming"`
	SupportsAtLeastOnce  *bool       `json:"supportsAtLeastOnce"`
	SupportsExactlyOnce  *bool       `json:"supportsExactlyOnce"`
	DefaultStreamingMode string      `json:"defaultStreamingMode"`
	Parameters           []parameter `json:"parameters"`
}

type parameter struct {
	Name       string   `json:"name"`
	Label      string   `json:"label"`
	HelpText   string   `json:"helpText"`
	IsOptional *bool    `json:"isOptional"`
	Regexes    []string `json:"regexes"`
}

func loadMetadata(t *testing.T) metadata {
	t.Helper()
	b, err := os.ReadFile("metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var md metadata
	if err := dec.Decode(&md); err != nil {
		t.Fatalf("metadata.json: %v", err)
	}
	return md
}

// binaryFlags returns the pipeline's flags on a fresh flag set, as
// cmd/beametrics defines them.
func binaryFlags() (*flag.FlagSet, *pipeline.Options) {
	var o pipeline.Options
	fs := flag.NewFlagSet("beametrics", flag.ContinueOnError)
	o.RegisterFlags(fs)
	return fs, &o
}

// readmeTable returns the rows of the first Markdown table in
// deploy/README.md after the heading, as cells with backticks removed.
func readmeTable(t *testing.T, heading, firstColumn string) [][]string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, heading)
	if i < 0 {
		t.Fatalf("README.md has no %q", heading)
	}
	var rows [][]string
	inTable := false
	for _, line := range strings.Split(text[i:], "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		if !inTable {
			if cells[0] != firstColumn {
				t.Fatalf("README.md: the table after %q starts with column %q, want %q", heading, cells[0], firstColumn)
			}
			inTable = true
			continue
		}
		if strings.HasPrefix(cells[0], "---") {
			continue
		}
		rows = append(rows, cells)
	}
	if len(rows) == 0 {
		t.Fatalf("README.md: no table rows after %q", heading)
	}
	return rows
}

func unquote(cell string) string {
	return strings.TrimSuffix(strings.TrimPrefix(cell, "`"), "`")
}

// readmeExamples maps each parameter to its example value in README.md.
func readmeExamples(t *testing.T) map[string]string {
	t.Helper()
	ex := map[string]string{}
	for _, row := range readmeTable(t, "## Template parameters", "parameter") {
		if len(row) != 2 {
			t.Fatalf("README.md parameter row %q: want 2 cells", row)
		}
		ex[unquote(row[0])] = unquote(row[1])
	}
	return ex
}

// readmeNotParameters returns the flags README.md says are deliberately not
// template parameters.
func readmeNotParameters(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, row := range readmeTable(t, "not** template parameters", "flag") {
		for _, f := range strings.Split(row[0], ",") {
			names = append(names, strings.TrimPrefix(unquote(strings.TrimSpace(f)), "--"))
		}
	}
	return names
}

func TestMetadataShape(t *testing.T) {
	md := loadMetadata(t)
	if md.Name == "" || md.Description == "" {
		t.Error("metadata needs a name and a description")
	}
	if md.Streaming == nil || !*md.Streaming {
		t.Error("metadata must say streaming: true")
	}
	if md.SupportsAtLeastOnce == nil || !*md.SupportsAtLeastOnce {
		t.Error("metadata must say supportsAtLeastOnce: true")
	}
	if md.SupportsExactlyOnce == nil || md.DefaultStreamingMode == "" {
		t.Error("metadata must say supportsExactlyOnce and defaultStreamingMode")
	}
	seen := map[string]bool{}
	for _, p := range md.Parameters {
		if seen[p.Name] {
			t.Errorf("parameter %q twice", p.Name)
		}
		seen[p.Name] = true
		if p.Label == "" || p.HelpText == "" || p.IsOptional == nil || len(p.Regexes) == 0 {
			t.Errorf("parameter %q needs label, helpText, isOptional and regexes", p.Name)
		}
		// The launcher checks required parameters; only the subscription
		// is always needed (the config has three alternative forms).
		if required := p.IsOptional != nil && !*p.IsOptional; required != (p.Name == "subscription") {
			t.Errorf("parameter %q: isOptional = %v; only subscription is required", p.Name, *p.IsOptional)
		}
	}
}

func TestMetadataParametersAreFlags(t *testing.T) {
	fs, _ := binaryFlags()
	for _, p := range loadMetadata(t).Parameters {
		if fs.Lookup(p.Name) == nil && flag.CommandLine.Lookup(p.Name) == nil {
			t.Errorf("parameter %q is not a flag of beametrics: the launcher would pass --%s=... and the binary would refuse it", p.Name, p.Name)
		}
	}
}

func TestEveryFlagIsATemplateParameter(t *testing.T) {
	fs, _ := binaryFlags()
	params := map[string]bool{}
	for _, p := range loadMetadata(t).Parameters {
		params[p.Name] = true
	}
	excluded := readmeNotParameters(t)
	fs.VisitAll(func(f *flag.Flag) {
		if !params[f.Name] && !slices.Contains(excluded, f.Name) {
			t.Errorf("flag --%s is neither a parameter in metadata.json nor listed in README.md as not one", f.Name)
		}
	})
	for _, name := range excluded {
		if fs.Lookup(name) == nil {
			t.Errorf("README.md lists --%s as not a parameter, but it is no flag of beametrics", name)
		}
		if params[name] {
			t.Errorf("README.md lists --%s as not a parameter, but metadata.json has it", name)
		}
	}
}

func TestOriginalTemplateParametersKept(t *testing.T) {
	params := map[string]bool{}
	for _, p := range loadMetadata(t).Parameters {
		params[p.Name] = true
	}
	// The original beametrics template's parameters, less region and
	// temp-location, which are launch options (deploy/README.md).
	for _, name := range []string{"project-id", "subscription", "metric-name", "metric-labels", "filter-conditions",
		"export-type", "metric-type", "metric-field", "window-size", "dataflow-template-type", "dynamic-labels",
		"metrics", "config"} {
		if !params[name] {
			t.Errorf("the original template's parameter %q is missing", name)
		}
	}
}

// fullMatch compiles a metadata regex the way Dataflow applies it: to the
// whole value.
func fullMatch(t *testing.T, param, re string) *regexp.Regexp {
	t.Helper()
	r, err := regexp.Compile(`^(?:` + re + `)$`)
	if err != nil {
		t.Fatalf("parameter %q: regex %q: %v", param, re, err)
	}
	return r
}

func TestRegexesAcceptReadmeExamples(t *testing.T) {
	examples := readmeExamples(t)
	fs, _ := binaryFlags()
	params := map[string]bool{}
	for _, p := range loadMetadata(t).Parameters {
		params[p.Name] = true
		ex, ok := examples[p.Name]
		if !ok {
			t.Errorf("README.md has no example value for parameter %q", p.Name)
			continue
		}
		for _, re := range p.Regexes {
			if !fullMatch(t, p.Name, re).MatchString(ex) {
				t.Errorf("parameter %q: regex %q rejects the README example %q", p.Name, re, ex)
			}
		}
		if f := fs.Lookup(p.Name); f != nil {
			if err := fs.Set(p.Name, ex); err != nil {
				t.Errorf("--%s=%s: the flag refuses the README example: %v", p.Name, ex, err)
			}
		}
	}
	for name := range examples {
		if !params[name] {
			t.Errorf("README.md has an example for %q, which is no parameter", name)
		}
	}
}

// TestReadmeExamplesMakeAValidJob checks the README's example values as the
// launcher would: every config form they describe passes the checks run
// before a job is submitted.
func TestReadmeExamplesMakeAValidJob(t *testing.T) {
	examples := readmeExamples(t)
	fs, o := binaryFlags()
	for name, v := range examples {
		if fs.Lookup(name) != nil {
			if err := fs.Set(name, v); err != nil {
				t.Fatalf("--%s: %v", name, err)
			}
		}
	}
	o.Config = "" // gs:// cannot be read here; the other two forms can
	if _, err := pipeline.Prepare(context.Background(), o); err != nil {
		t.Errorf("README examples with metrics: %v", err)
	}
	o.Metrics = ""
	if _, err := pipeline.Prepare(context.Background(), o); err != nil {
		t.Errorf("README examples with the single-metric parameters: %v", err)
	}
}

func TestRegexesRejectBadValues(t *testing.T) {
	bad := map[string][]string{
		"subscription":                          {"app-logs", "projects/p/topics/t", "projects/p/subscriptions/"},
		"config":                                {"metrics.yaml", "s3://bucket/metrics.yaml", "gs://"},
		"metrics":                               {`{"name":"x"}`},
		"metric-name":                           {"1errors", "has space"},
		"metric-type":                           {"avg", "counts"},
		"metric-labels":                         {`["env"]`},
		"dynamic-labels":                        {"service=service"},
		"filter-conditions":                     {`{"field":"a"}`},
		"window-size":                           {"0", "60s", "-1"},
		"allowed-lateness":                      {"2", "two minutes"},
		"event-time-format":                     {"iso8601"},
		"export-type":                           {"stackdriver", "prometheus-remote-write"},
		"dead-letter":                           {"gs://bucket/dead", "dead.jsonl"},
		"monitoring-project":                    {"My_Project", "p"},
		"monitoring-resource-type":              {"gce_instance"},
		"monitoring-resource-labels":            {"location", "=x"},
		"monitoring-timeout":                    {"30"},
		"prometheus-remote-write-url":           {"prometheus:9090/api/v1/write"},
		"prometheus-remote-write-password-file": {"secrets/pw"},
		"dataflow-template-type":                {"FLEX-ish"},
	}
	regexes := map[string][]string{}
	for _, p := range loadMetadata(t).Parameters {
		regexes[p.Name] = p.Regexes
	}
	for name, values := range bad {
		res, ok := regexes[name]
		if !ok {
			t.Errorf("no parameter %q", name)
			continue
		}
		for _, v := range values {
			rejected := false
			for _, re := range res {
				if !fullMatch(t, name, re).MatchString(v) {
					rejected = true
				}
			}
			if !rejected {
				t.Errorf("parameter %q accepts the bad value %q", name, v)
			}
		}
	}
}
