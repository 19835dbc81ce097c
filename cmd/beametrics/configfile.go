package main

import "github.com/beametrics/beametrics/internal/config"

// loadConfigFile reads a config from a local path. gs:// paths are read by
// the pipeline's Beam filesystems; see pipeline_run.go.
func loadConfigFile(path string) (*config.Config, error) {
	return config.Load(path)
}
