// Package heartbeat publishes dummy liveness records straight to Pub/Sub,
// for log pipelines without fluentd, so that a beametrics pipeline can count
// its own pipeline's life. The records have the same shape as the ones the
// fluentd dummy input emits.
package heartbeat

import (
	"encoding/json"
	"time"
)

// UserAgent marks a record as a liveness dummy, not an application log.
const UserAgent = "beametrics-dummy"

// TimeLayout is the format of the record's time field, always in UTC:
// "2025-02-07 15:12:43 UTC".
const TimeLayout = "2006-01-02 15:04:05 UTC"

// Attribute names set on every published record, so that a pipeline can
// filter on attributes.pipeline-id without decoding the body.
const (
	AttrPipelineID  = "pipeline-id"
	AttrPipelineEnv = "pipeline-env"
)

// record fixes the field order of the JSON body.
type record struct {
	PipelineID  string `json:"pipeline-id"`
	PipelineEnv string `json:"pipeline-env"`
	Time        string `json:"time"`
	UserAgent   string `json:"user_agent"`
}

// Record returns the JSON body of one liveness record stamped with now:
// {"pipeline-id":"0","pipeline-env":"blue","time":"2025-02-07 15:12:43 UTC","user_agent":"beametrics-dummy"}
func Record(pipelineID, pipelineEnv string, now time.Time) []byte {
	b, err := json.Marshal(record{
		PipelineID:  pipelineID,
		PipelineEnv: pipelineEnv,
		Time:        now.UTC().Format(TimeLayout),
		UserAgent:   UserAgent,
	})
	if err != nil {
		// Marshalling a struct of strings cannot fail.
		panic("heartbeat: " + err.Error())
	}
	return b
}

// Attributes returns the Pub/Sub attributes published with a record.
func Attributes(pipelineID, pipelineEnv string) map[string]string {
	return map[string]string{AttrPipelineID: pipelineID, AttrPipelineEnv: pipelineEnv}
}
