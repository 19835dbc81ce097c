package pubsubread

import (
	"os"
	"sync"
	"time"
)

// StopFileEnv names an environment variable holding a file path: once that
// file exists, every source in this process stops as after StopAll,
// including sources that start later. A launcher whose workers are other
// processes sets it before starting them (they inherit its environment)
// and creates the file to drain them; its own StopAll cannot reach them.
const StopFileEnv = "BEAMETRICS_STOP_FILE"

// stopFilePoll is how often a worker looks for the stop file.
const stopFilePoll = 200 * time.Millisecond

var watchStopFileOnce sync.Once

// watchStopFile starts, once per process, the watch for the file named by
// StopFileEnv, if any.
func watchStopFile() {
	path := os.Getenv(StopFileEnv)
	if path == "" {
		return
	}
	watchStopFileOnce.Do(func() {
		go func() {
			for {
				if _, err := os.Stat(path); err == nil {
					registry.Lock()
					registry.stopAll = true
					registry.Unlock()
					StopAll()
					return
				}
				time.Sleep(stopFilePoll)
			}
		}()
	})
}
