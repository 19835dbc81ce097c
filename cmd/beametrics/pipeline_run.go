package main

import (
	"fmt"
	"os"
)

// runPipeline runs the streaming or replay pipeline. Filled in by the
// pipeline work; until then it explains itself instead of doing nothing.
func runPipeline(args []string) int {
	fmt.Fprintln(os.Stderr, "beametrics: the pipeline is not built yet")
	return 2
}
