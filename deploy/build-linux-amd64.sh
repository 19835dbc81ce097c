#!/bin/sh
# Builds the linux/amd64 beametrics binary exactly as the Dockerfile's build
# stage does: the Dockerfile runs this very script, so CI and the image
# cannot drift apart. Dataflow workers and the flex template launcher run
# linux/amd64; CGO is off so the binary needs no libc from the image.
#
# Usage: deploy/build-linux-amd64.sh [OUTPUT]   (default: bin/beametrics-linux-amd64)
set -eu

OUTPUT="${1:-bin/beametrics-linux-amd64}"
PACKAGE="./cmd/beametrics"

cd "$(dirname "$0")/.."
go version
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
	go build -trimpath -ldflags="-s -w" -o "$OUTPUT" "$PACKAGE"
echo "built $OUTPUT"
