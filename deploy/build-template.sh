#!/bin/sh
# Builds the beametrics image and the Dataflow flex template spec that
# points at it. Run from anywhere; it works from the repository root.
#
# Required: PROJECT, REGION, TEMPLATE_PATH. The others have the defaults
# shown. BUILDER=cloudbuild builds in Cloud Build (no local Docker needed);
# BUILDER=docker builds and pushes with the local Docker engine.
set -eu

PROJECT="${PROJECT:?set PROJECT to the Google Cloud project that holds the image and the template}"
REGION="${REGION:?set REGION, e.g. europe-west1 (Artifact Registry location)}"
TEMPLATE_PATH="${TEMPLATE_PATH:?set TEMPLATE_PATH to the template spec to write, e.g. gs://BUCKET/templates/beametrics.json}"
REPOSITORY="${REPOSITORY:-beametrics}"
IMAGE_TAG="${IMAGE_TAG:-$(git -C "$(dirname "$0")" rev-parse --short=12 HEAD)}"
IMAGE="${IMAGE:-${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/beametrics:${IMAGE_TAG}}"
BUILDER="${BUILDER:-cloudbuild}"
METADATA_FILE="deploy/metadata.json"

cd "$(dirname "$0")/.."

case "$BUILDER" in
cloudbuild)
	gcloud builds submit --project="$PROJECT" --region="$REGION" --tag="$IMAGE" .
	;;
docker)
	docker build --platform=linux/amd64 --tag="$IMAGE" .
	docker push "$IMAGE"
	;;
*)
	echo "build-template.sh: BUILDER must be cloudbuild or docker, got '$BUILDER'" >&2
	exit 2
	;;
esac

gcloud dataflow flex-template build "$TEMPLATE_PATH" \
	--project="$PROJECT" \
	--image="$IMAGE" \
	--sdk-language=GO \
	--metadata-file="$METADATA_FILE"

echo "template $TEMPLATE_PATH -> image $IMAGE"
