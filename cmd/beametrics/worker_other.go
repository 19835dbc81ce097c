//go:build !linux

package main

// dieWithParent is Linux-only; Dataflow's workers run Linux.
func dieWithParent() {}
