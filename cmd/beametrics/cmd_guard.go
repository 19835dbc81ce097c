package main

import (
	"fmt"
	"os"

	"github.com/beametrics/beametrics/internal/jobs/guard"
)

func init() {
	register("guard", "check a Terraform plan for deletions of data-bearing resources (guard plan PLAN.json)", func(args []string) int {
		const usage = "usage: beametrics guard plan [flags] PLAN.json   (run 'beametrics guard plan -h' for flags)"
		switch {
		case len(args) > 0 && isHelpFlag(args[0]):
			fmt.Fprintln(os.Stdout, usage)
			return 0
		case len(args) == 0 || args[0] != "plan":
			fmt.Fprintln(os.Stderr, usage)
			return guard.ExitBadInput
		}
		return guard.PlanMain(args[1:], os.Stdin, os.Stdout, helpWriter(args[1:]))
	})
}
