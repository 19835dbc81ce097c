# beametrics flex template image.
#
# Stage one builds the linux/amd64 binary with the Go version of go.mod, by
# running deploy/build-linux-amd64.sh: the same commands CI runs.
# Stage two is Google's Go flex template launcher image with the binary and
# the example configs added; the launcher's entrypoint is kept.
#
# Build: deploy/build-template.sh (or docker build -t IMAGE .)
# Local: docker run --entrypoint /template/beametrics IMAGE --config /template/examples/quickstart.yaml

# GO_VERSION must equal the go directive of go.mod (checked by deploy's tests).
ARG GO_VERSION=1.26.0
# The launcher base is pinned; deploy/README.md says how to pick a newer tag.
ARG LAUNCHER_IMAGE=gcr.io/dataflow-templates-base/go-template-launcher-base:20250120_RC00

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN deploy/build-linux-amd64.sh /out/beametrics

FROM ${LAUNCHER_IMAGE}
COPY --from=build /out/beametrics /template/beametrics
COPY examples/ /template/examples/
ENV FLEX_TEMPLATE_GO_BINARY=/template/beametrics
# No ENTRYPOINT or CMD: the base image's launcher
# (/opt/google/dataflow/go_template_launcher) starts the binary.
