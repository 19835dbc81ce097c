package main

import (
	"fmt"
	"os"

	"github.com/beametrics/beametrics/internal/jobs/guard"
)

func init() {
	register("guard", "check a Terraform plan for deletions of data-bearing resources (guard plan PLAN.json)", func(args []string) int {
		if len(args) == 0 || args[0] != "plan" {
			fmt.Fprintln(os.Stderr, "usage: beametrics guard plan [flags] PLAN.json   (run 'beametrics guard plan -h' for flags)")
			return guard.ExitBadInput
		}
		return guard.PlanMain(args[1:], os.Stdin, os.Stdout, os.Stderr)
	})
}
