package alerts

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/internal/config"
)

// Formats are the values of --format.
var Formats = []string{"prometheus", "cloud-monitoring"}

// Main runs `beametrics alerts CONFIG`. It returns the exit code: 0 when
// written, 1 when writing failed, 2 for bad flags or a bad config.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alerts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "", "output format: prometheus or cloud-monitoring (required)")
	out := fs.String("out", "-", "where to write: a file for prometheus, a directory (one policy JSON per metric) for cloud-monitoring; - is stdout")
	prefix := fs.String("metric-prefix", exporters.DefaultMetricPrefix, "cloud-monitoring: metric type prefix, as the exporter's metric_prefix")
	group := fs.String("group", "", "prometheus: rule group name (default: beametrics-CONFIG base name)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: beametrics alerts CONFIG --format prometheus|cloud-monitoring [--out PATH]\n\n"+
			"Writes alert definitions for every metric marked alert: in CONFIG.\n\n")
		fs.PrintDefaults()
	}
	// Accept the config before or after the flags.
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return 0
			}
			return 2
		}
		args = fs.Args()
		if len(args) > 0 {
			positional = append(positional, args[0])
			args = args[1:]
		}
	}
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "beametrics alerts: give exactly one CONFIG file")
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(positional[0])
	if err != nil {
		fmt.Fprintf(stderr, "beametrics alerts: %v\n", err)
		return 2
	}
	switch *format {
	case "prometheus":
		name := *group
		if name == "" {
			name = "beametrics-" + strings.TrimSuffix(filepath.Base(cfg.File), filepath.Ext(cfg.File))
		}
		rules, err := PrometheusRules(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "beametrics alerts: %v\n", err)
			return 2
		}
		b, err := PrometheusFile(name, rules)
		if err != nil {
			fmt.Fprintf(stderr, "beametrics alerts: %v\n", err)
			return 1
		}
		return write(*out, b, stdout, stderr)
	case "cloud-monitoring":
		policies, err := CloudMonitoringPolicies(cfg, *prefix)
		if err != nil {
			fmt.Fprintf(stderr, "beametrics alerts: %v\n", err)
			return 2
		}
		if *out == "-" && len(policies) > 1 {
			fmt.Fprintf(stderr, "beametrics alerts: %d policies: gcloud reads one per file, give --out DIR\n", len(policies))
			return 2
		}
		for _, p := range policies {
			b, err := PolicyJSON(p)
			if err != nil {
				fmt.Fprintf(stderr, "beametrics alerts: %v\n", err)
				return 1
			}
			path := *out
			if path != "-" {
				if err := os.MkdirAll(path, 0o755); err != nil {
					fmt.Fprintf(stderr, "beametrics alerts: %v\n", err)
					return 1
				}
				path = filepath.Join(path, p.UserLabels["beametrics_metric"]+".json")
			}
			if code := write(path, b, stdout, stderr); code != 0 {
				return code
			}
		}
		return 0
	default:
		fmt.Fprintf(stderr, "beametrics alerts: --format must be one of %s, not %q\n", strings.Join(Formats, ", "), *format)
		return 2
	}
}

func write(path string, b []byte, stdout, stderr io.Writer) int {
	var err error
	if path == "-" {
		_, err = stdout.Write(b)
	} else {
		err = os.WriteFile(path, b, 0o644)
		if err == nil {
			fmt.Fprintf(stderr, "wrote %s\n", path)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "beametrics alerts: %v\n", err)
		return 1
	}
	return 0
}
