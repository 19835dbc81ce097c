// Package pubsubtest starts real Pub/Sub servers for tests: the in-process
// fake (pstest) and the gcloud Pub/Sub emulator, and prepares topics and
// subscriptions on them.
package pubsubtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/beametrics/beametrics/internal/pubsubname"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// EmulatorPath is where the Debian package google-cloud-cli-pubsub-emulator
// installs the emulator's launcher.
const EmulatorPath = "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"

// emulatorStartTimeout bounds the wait for the emulator's port; it usually
// answers after about 5 s, but the machine is shared.
const emulatorStartTimeout = 90 * time.Second

// Server is a running Pub/Sub server reachable over plaintext gRPC at Addr
// ("127.0.0.1:PORT"), without authentication.
type Server struct {
	Addr string
	// Fake is the in-process server when the Server is a pstest fake, so
	// tests can inspect deliveries and acks; nil for the emulator.
	Fake *pstest.Server
}

// StartFake starts an in-process pstest server, closed when the test ends.
func StartFake(tb testing.TB) *Server {
	tb.Helper()
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	tb.Cleanup(func() { srv.Close() })
	return &Server{Addr: srv.Addr, Fake: srv}
}

// EmulatorMissing reports why the gcloud emulator cannot run here, or "" when
// it can.
func EmulatorMissing() string {
	if _, err := os.Stat(EmulatorPath); err != nil {
		return fmt.Sprintf("the gcloud Pub/Sub emulator is not installed (%s is missing; Debian package google-cloud-cli-pubsub-emulator)", EmulatorPath)
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "java is not on PATH; the gcloud Pub/Sub emulator needs a Java 11+ runtime"
	}
	return ""
}

// StartEmulator starts the gcloud Pub/Sub emulator on a free loopback port,
// waits until it answers gRPC calls and stops it when the test ends. It
// skips the test, saying what is missing, where the emulator cannot run.
func StartEmulator(tb testing.TB) *Server {
	tb.Helper()
	if why := EmulatorMissing(); why != "" {
		tb.Skip("skipping: " + why)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatalf("finding a free port for the emulator: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dataDir := tb.TempDir()
	cmd := exec.Command(EmulatorPath, "--host=127.0.0.1", fmt.Sprintf("--port=%d", port), "--dir="+dataDir)
	// Its own process group, so that stopping it also stops the java
	// process the launcher script starts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logFile, err := os.Create(dataDir + "/emulator.log")
	if err != nil {
		tb.Fatalf("creating emulator log: %v", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting the Pub/Sub emulator: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logFile.Close()
	})
	srv := &Server{Addr: addr}
	if err := srv.waitReady(exited); err != nil {
		log, _ := os.ReadFile(dataDir + "/emulator.log")
		tb.Fatalf("the Pub/Sub emulator did not become ready at %s: %v\nemulator log:\n%s", addr, err, log)
	}
	return srv
}

// waitReady polls the emulator with a cheap admin call until it answers.
func (s *Server) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(emulatorStartTimeout)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, err := s.newClient(ctx, "readiness-probe")
	if err != nil {
		return err
	}
	defer client.Close()
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("emulator exited early: %w", err)
		default:
		}
		callCtx, callCancel := context.WithTimeout(ctx, 2*time.Second)
		it := client.TopicAdminClient.ListTopics(callCtx, &pubsubpb.ListTopicsRequest{Project: "projects/readiness-probe"})
		_, err := it.Next()
		callCancel()
		if err == nil || errors.Is(err, iterator.Done) {
			return nil
		}
		lastErr = err
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("no answer within %v: %w", emulatorStartTimeout, lastErr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ClientOptions are the options that connect a Pub/Sub client to addr over
// plaintext gRPC without credentials.
func ClientOptions(addr string) []option.ClientOption {
	return pubsubname.ClientOptions(addr, true)
}

func (s *Server) newClient(ctx context.Context, project string) (*pubsub.Client, error) {
	return pubsub.NewClient(ctx, project, ClientOptions(s.Addr)...)
}

// Client returns a client of the server for project, closed when the test
// ends.
func (s *Server) Client(tb testing.TB, project string) *pubsub.Client {
	tb.Helper()
	c, err := s.newClient(context.Background(), project)
	if err != nil {
		tb.Fatalf("connecting to Pub/Sub at %s: %v", s.Addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// CreateTopic creates the topic (full path projects/P/topics/T).
func CreateTopic(tb testing.TB, c *pubsub.Client, topic string) {
	tb.Helper()
	if _, err := c.TopicAdminClient.CreateTopic(context.Background(), &pubsubpb.Topic{Name: topic}); err != nil {
		tb.Fatalf("creating topic %s: %v", topic, err)
	}
}

// CreateSubscription creates a pull subscription (full path
// projects/P/subscriptions/S) on topic with the given ack deadline.
func CreateSubscription(tb testing.TB, c *pubsub.Client, sub, topic string, ackDeadline time.Duration) {
	tb.Helper()
	_, err := c.SubscriptionAdminClient.CreateSubscription(context.Background(), &pubsubpb.Subscription{
		Name:                     sub,
		Topic:                    topic,
		AckDeadlineSeconds:       int32(ackDeadline / time.Second),
		MessageRetentionDuration: durationpb.New(time.Hour),
	})
	if err != nil {
		tb.Fatalf("creating subscription %s on %s: %v", sub, topic, err)
	}
}

// Publish publishes msgs through the client's batching publisher and
// returns the server-assigned IDs in order.
func Publish(tb testing.TB, c *pubsub.Client, topic string, msgs []*pubsub.Message) []string {
	tb.Helper()
	p := c.Publisher(topic)
	defer p.Stop()
	results := make([]*pubsub.PublishResult, len(msgs))
	for i, m := range msgs {
		results[i] = p.Publish(context.Background(), m)
	}
	ids := make([]string, len(msgs))
	for i, r := range results {
		id, err := r.Get(context.Background())
		if err != nil {
			tb.Fatalf("publishing message %d to %s: %v", i, topic, err)
		}
		ids[i] = id
	}
	return ids
}

// PullRemaining pulls what is left on the subscription, waiting up to wait
// for stragglers, without acking, and returns the message IDs it got.
func PullRemaining(tb testing.TB, c *pubsub.Client, sub string, wait time.Duration) []string {
	tb.Helper()
	var ids []string
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		//lint:ignore SA1019 as in the source (transforms/pubsubread): an empty pull must return at once.
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 1000, ReturnImmediately: true})
		cancel()
		if err != nil && status.Code(err) != codes.DeadlineExceeded {
			tb.Fatalf("pulling leftovers from %s: %v", sub, err)
		}
		if resp != nil {
			for _, m := range resp.ReceivedMessages {
				ids = append(ids, m.GetMessage().GetMessageId())
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return ids
}
