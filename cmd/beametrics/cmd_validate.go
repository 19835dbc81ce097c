package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/beametrics/beametrics/internal/config"
	"github.com/beametrics/beametrics/internal/config/configtest"
)

func init() {
	register("validate", "check a metrics config and print what each metric means", func(args []string) int {
		return runValidate(args, os.Stdout, os.Stderr)
	})
	register("test", "run a config's unit tests: input events and expected metric values", func(args []string) int {
		return runConfigTest(args, os.Stdout, os.Stderr)
	})
}

// loadConfigOrReport loads a config, printing every error as FILE:LINE:COL.
func loadConfigOrReport(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := loadConfigFile(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, false
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	return cfg, true
}

func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: beametrics validate CONFIG") }
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	cfg, ok := loadConfigOrReport(fs.Arg(0), stderr)
	if !ok {
		return 2
	}
	if cfg.EventTimeField != "" {
		fmt.Fprintf(stdout, "event time: field %s (%s)\n", cfg.EventTimeField, cfg.EventTimeFormat)
	} else {
		fmt.Fprintln(stdout, "event time: the source's time (Pub/Sub publish time)")
	}
	for i := range cfg.Metrics {
		fmt.Fprintln(stdout, cfg.Metrics[i].Describe())
	}
	return 0
}

func runConfigTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: beametrics test CONFIG TESTFILE") }
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	cfg, ok := loadConfigOrReport(fs.Arg(0), stderr)
	if !ok {
		return 2
	}
	failed, err := configtest.Run(cfg, fs.Arg(1), stdout)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if failed > 0 {
		return 1
	}
	return 0
}
