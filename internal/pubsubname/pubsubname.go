// Package pubsubname reads Pub/Sub resource names and says how to reach
// the server they live on: what the source, the dead-letter writer and
// the heartbeat job share.
package pubsubname

import (
	"fmt"
	"strings"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Project returns PROJECT of projects/PROJECT/KIND/NAME, where kind is
// "topics" or "subscriptions"; what is not of that form is an error that
// quotes the name.
func Project(name, kind string) (string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != kind || parts[1] == "" || parts[3] == "" {
		return "", fmt.Errorf("%s %q is not of the form projects/PROJECT/%s/NAME", strings.TrimSuffix(kind, "s"), name, kind)
	}
	return parts[1], nil
}

// ClientOptions connect a client to endpoint ("" for Google's) and, when
// insecure, over plaintext gRPC without credentials, as the emulator
// expects.
func ClientOptions(endpoint string, insecureConn bool) []option.ClientOption {
	var opts []option.ClientOption
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	if insecureConn {
		opts = append(opts, option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithTelemetryDisabled())
	}
	return opts
}
