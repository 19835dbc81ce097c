// Package deadletter writes refused records, with the reason, where a user
// can look at them and replay them: a local file of JSON lines or a Pub/Sub
// topic. Every dead letter is also counted by the transform that refused
// it.
package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/beametrics/beametrics/internal/pubsubname"
	"github.com/beametrics/beametrics/transforms/metricagg"
)

func init() {
	register.DoFn2x1[context.Context, metricagg.DeadLetter, error](&writeFn{})
}

// IsTopic reports whether dest names a Pub/Sub topic rather than a file.
func IsTopic(dest string) bool {
	return strings.HasPrefix(dest, "projects/") && strings.Contains(dest, "/topics/")
}

// Check refuses destinations that cannot work, before the pipeline starts.
func Check(dest string) error {
	switch {
	case dest == "":
		return nil
	case strings.HasPrefix(dest, "gs://"):
		return fmt.Errorf("--dead-letter %s: a streaming job cannot append to Cloud Storage; give a Pub/Sub topic (projects/P/topics/T)", dest)
	case IsTopic(dest):
		if _, err := pubsubname.Project(dest, "topics"); err != nil {
			return fmt.Errorf("--dead-letter %s: want projects/PROJECT/topics/TOPIC", dest)
		}
		return nil
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_APPEND|os.O_WRONLY, FileMode)
	if err != nil {
		return fmt.Errorf("--dead-letter: %w", err)
	}
	return f.Close()
}

// FileMode is the mode of a new dead-letter file: only its owner may read
// it, because it holds raw log lines (which may carry personal data) and
// error text. An existing file keeps its mode.
const FileMode = 0o600

// Write sends dead letters to dest. With no dest, the first few of each run
// are logged so that they are not invisible.
func Write(s beam.Scope, dest string, dead beam.PCollection) {
	beam.ParDo0(s.Scope("deadletter.Write"), &writeFn{Dest: dest}, dead)
}

// record is the JSON form of a dead letter. Data is kept as text when it is
// valid UTF-8, so people can read it, and base64 otherwise.
type record struct {
	Reason     string    `json:"reason"`
	Detail     string    `json:"detail"`
	Source     string    `json:"source"`
	Time       time.Time `json:"time"`
	Data       string    `json:"data,omitempty"`
	DataBase64 []byte    `json:"data_base64,omitempty"`
}

// Line is the JSON line written for d.
func Line(d metricagg.DeadLetter) []byte {
	r := record{Reason: d.Reason, Detail: d.Detail, Source: d.Source, Time: d.Time}
	if utf8.Valid(d.Data) { // json.Valid does not check UTF-8
		r.Data = string(d.Data)
	} else {
		r.DataBase64 = d.Data
	}
	b, _ := json.Marshal(r)
	return append(b, '\n')
}

type writeFn struct {
	Dest string

	w *Writer
}

func (fn *writeFn) Setup(ctx context.Context) error {
	var err error
	fn.w, err = NewWriter(ctx, fn.Dest)
	return err
}

func (fn *writeFn) ProcessElement(ctx context.Context, d metricagg.DeadLetter) error {
	return fn.w.Write(ctx, d)
}

// FinishBundle waits for the bundle's dead letters to be published: an
// error fails the bundle, and the runner retries it.
func (fn *writeFn) FinishBundle(ctx context.Context) error {
	_, err := fn.w.Flush(ctx)
	return err
}

func (fn *writeFn) Teardown() error { return fn.w.Close() }

// Writer writes dead letters to one destination. Other transforms use it
// too: the export sink sends the points it could not write.
type Writer struct {
	dest   string
	topic  *pubsub.Publisher
	client *pubsub.Client
	logged int
	// pending are the dead letters handed to the publisher and not yet
	// confirmed: publishing them one at a time, each awaited, made a
	// burst of bad records cost one round trip each.
	pending []pendingLetter
}

type pendingLetter struct {
	letter metricagg.DeadLetter
	result *pubsub.PublishResult
}

// files are shared per process: prism runs many instances of the DoFns.
var files = struct {
	sync.Mutex
	m map[string]*os.File
}{m: map[string]*os.File{}}

const logLimit = 20

// NewWriter prepares writing to dest (see Check); "" only logs.
func NewWriter(ctx context.Context, dest string) (*Writer, error) {
	w := &Writer{dest: dest}
	if !IsTopic(dest) {
		return w, nil
	}
	project, err := pubsubname.Project(dest, "topics")
	if err != nil {
		return nil, err
	}
	c, err := pubsub.NewClient(ctx, project)
	if err != nil {
		return nil, err
	}
	w.client, w.topic = c, c.Publisher(dest)
	return w, nil
}

// Write writes one dead letter. An error means it was not written; callers
// in DoFns return it so that the runner retries the bundle. To a topic the
// letter is only handed to the publisher, which batches: Flush says
// whether it was published.
func (w *Writer) Write(ctx context.Context, d metricagg.DeadLetter) error {
	switch {
	case w.dest == "":
		if w.logged < logLimit {
			w.logged++
			log.Warnf(ctx, "dead letter (%s) from %s: %s; give --dead-letter to keep them", d.Reason, d.Source, d.Detail)
		}
		return nil
	case w.topic != nil:
		res := w.topic.Publish(ctx, &pubsub.Message{Data: d.Data, Attributes: map[string]string{
			"beametrics-reason": d.Reason, "beametrics-detail": d.Detail, "beametrics-source": d.Source}})
		w.pending = append(w.pending, pendingLetter{d, res})
		return nil
	}
	files.Lock()
	defer files.Unlock()
	f := files.m[w.dest]
	if f == nil {
		var err error
		if f, err = os.OpenFile(w.dest, os.O_CREATE|os.O_APPEND|os.O_WRONLY, FileMode); err != nil {
			return err
		}
		files.m[w.dest] = f
	}
	_, err := f.Write(Line(d))
	return err
}

// Flush waits until every dead letter written to a topic since the last
// Flush is published. It returns those that were not, and the first
// error; a file or the log has nothing to wait for.
func (w *Writer) Flush(ctx context.Context) ([]metricagg.DeadLetter, error) {
	pending := w.pending
	w.pending = nil
	var failed []metricagg.DeadLetter
	var first error
	for _, p := range pending {
		if _, err := p.result.Get(ctx); err != nil {
			failed = append(failed, p.letter)
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		return failed, fmt.Errorf("%d of %d dead letters to %s not published: %w", len(failed), len(pending), w.dest, first)
	}
	return nil, nil
}

// Close releases the Pub/Sub client; files stay open until CloseFiles.
func (w *Writer) Close() error {
	if w == nil || w.topic == nil {
		return nil
	}
	w.topic.Stop()
	return w.client.Close()
}

// CloseFiles closes the dead-letter files of this process.
func CloseFiles() error {
	files.Lock()
	defer files.Unlock()
	var first error
	for k, f := range files.m {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
		delete(files.m, k)
	}
	return first
}
