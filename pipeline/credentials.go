package pipeline

// A local run that talks to Google Cloud needs Application Default
// Credentials. Without them the client libraries fail inside a running
// bundle, and the cause ends a Beam plan dump; so look for them once,
// before anything starts, and lead with the cause and the remedy.

import (
	"fmt"
	"os"
	"strings"

	"cloud.google.com/go/auth/credentials"

	"github.com/beametrics/beametrics/exporters"
	"github.com/beametrics/beametrics/transforms/deadletter"
)

const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// cloudUses says what in plan reaches Google Cloud with credentials: the
// uses, and whether Pub/Sub (which the emulator can replace) and Cloud
// Monitoring are among them.
func cloudUses(plan *Plan) (uses []string, pubsub, monitoring bool) {
	emulator := os.Getenv("PUBSUB_EMULATOR_HOST") != ""
	if plan.PubSub != nil && plan.PubSub.Endpoint == "" && !emulator {
		uses = append(uses, "stream from "+plan.PubSub.Subscription)
		pubsub = true
	}
	if deadletter.IsTopic(plan.DeadLetter) && !emulator {
		uses = append(uses, "publish dead letters to "+plan.DeadLetter)
		pubsub = true
	}
	for _, m := range plan.Config.Metrics {
		if m.ExportType == exporters.TypeCloudMonitoring {
			uses = append(uses, "export to Cloud Monitoring (metric "+m.Name+")")
			monitoring = true
			break
		}
	}
	return uses, pubsub, monitoring
}

// checkCredentials returns a one-line error, cause first, when plan needs
// Google Cloud credentials and none can be found.
func checkCredentials(plan *Plan) error {
	uses, pubsub, monitoring := cloudUses(plan)
	if len(uses) == 0 {
		return nil
	}
	_, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{cloudPlatformScope}})
	if err == nil {
		return nil
	}
	// "credentials: could not find default credentials. See URL for more
	// information": keep the cause, and say what to do instead.
	cause := strings.TrimPrefix(err.Error(), "credentials: ")
	if i := strings.Index(cause, ". See "); i >= 0 {
		cause = cause[:i]
	}
	advice := `run "gcloud auth application-default login" (or set GOOGLE_APPLICATION_CREDENTIALS to a key file)`
	if pubsub {
		advice += ", or set PUBSUB_EMULATOR_HOST to use the Pub/Sub emulator"
	}
	if monitoring {
		advice += ", or export elsewhere (--export-type local)"
	}
	return usageError(fmt.Errorf("%s, needed to %s: %s", cause, strings.Join(uses, " and "), advice))
}
