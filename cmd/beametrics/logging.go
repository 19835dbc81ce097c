package main

import (
	"flag"
	"strconv"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// Beam sets up slog's default logger in beam.Init from beamlog.LogLevel;
// at its default, info, prism prints a dozen lines about its job server on
// every run. The run keeps Beam at warnings unless --verbose, which is a
// flag on the process flag set (Beam's), parsed before beam.Init.
// beametrics' own progress and summary lines are not slog and always show.

const verboseUsage = "also print Beam's and prism's informational log lines (default: warnings and errors only)"

func init() {
	flag.CommandLine.Var(verboseFlag{}, "verbose", verboseUsage)
}

// quietBeamLogs lowers Beam's log level to warnings; --verbose, parsed
// later, raises it back.
func quietBeamLogs() { beamlog.LogLevel = "warn" }

// verboseFlag is a boolean flag that sets Beam's log level as it is parsed.
type verboseFlag struct{}

func (verboseFlag) IsBoolFlag() bool { return true }
func (verboseFlag) String() string   { return "false" }

func (verboseFlag) Set(v string) error {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	if on {
		beamlog.LogLevel = "info"
	} else {
		beamlog.LogLevel = "warn"
	}
	return nil
}
