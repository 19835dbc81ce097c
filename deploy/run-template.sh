#!/bin/sh
# Starts (or, with UPDATE=true, updates in place) a beametrics streaming job
# from the flex template built by build-template.sh.
#
# Required: PROJECT, REGION, TEMPLATE_PATH, JOB_NAME, SUBSCRIPTION, CONFIG,
# STAGING_LOCATION, SERVICE_ACCOUNT. Optional ones are empty by default and
# then left out of the launch.
set -eu

PROJECT="${PROJECT:?set PROJECT to the project the job runs in}"
REGION="${REGION:?set REGION, e.g. europe-west1}"
TEMPLATE_PATH="${TEMPLATE_PATH:?set TEMPLATE_PATH, e.g. gs://BUCKET/templates/beametrics.json}"
JOB_NAME="${JOB_NAME:?set JOB_NAME, e.g. beametrics-app-logs (the same name again to --update)}"
SUBSCRIPTION="${SUBSCRIPTION:?set SUBSCRIPTION to projects/PROJECT/subscriptions/NAME}"
CONFIG="${CONFIG:?set CONFIG to the metrics YAML, e.g. gs://BUCKET/beametrics/metrics.yaml}"
STAGING_LOCATION="${STAGING_LOCATION:?set STAGING_LOCATION, e.g. gs://BUCKET/staging}"
SERVICE_ACCOUNT="${SERVICE_ACCOUNT:?set SERVICE_ACCOUNT to the e-mail of the job service account}"
TEMP_LOCATION="${TEMP_LOCATION:-}"
MONITORING_PROJECT="${MONITORING_PROJECT:-}"
DEAD_LETTER="${DEAD_LETTER:-}"
ALLOWED_LATENESS="${ALLOWED_LATENESS:-}"
MAX_WORKERS="${MAX_WORKERS:-}"
UPDATE="${UPDATE:-false}"
TRANSFORM_NAME_MAPPINGS="${TRANSFORM_NAME_MAPPINGS:-}"

# Parameters are joined with "~" (gcloud's ^~^ escape) so that values may
# contain commas, as JSON and k=v,k=v values do.
params="subscription=${SUBSCRIPTION}~config=${CONFIG}"
if [ -n "$MONITORING_PROJECT" ]; then params="${params}~monitoring-project=${MONITORING_PROJECT}"; fi
if [ -n "$DEAD_LETTER" ]; then params="${params}~dead-letter=${DEAD_LETTER}"; fi
if [ -n "$ALLOWED_LATENESS" ]; then params="${params}~allowed-lateness=${ALLOWED_LATENESS}"; fi

set -- \
	--project="$PROJECT" \
	--region="$REGION" \
	--template-file-gcs-location="$TEMPLATE_PATH" \
	--staging-location="$STAGING_LOCATION" \
	--service-account-email="$SERVICE_ACCOUNT" \
	--parameters="^~^${params}"
if [ -n "$TEMP_LOCATION" ]; then set -- "$@" --temp-location="$TEMP_LOCATION"; fi
if [ -n "$MAX_WORKERS" ]; then set -- "$@" --max-workers="$MAX_WORKERS"; fi
case "$UPDATE" in
true)
	set -- "$@" --update
	if [ -n "$TRANSFORM_NAME_MAPPINGS" ]; then set -- "$@" --transform-name-mappings="$TRANSFORM_NAME_MAPPINGS"; fi
	;;
false)
	if [ -n "$TRANSFORM_NAME_MAPPINGS" ]; then
		echo "run-template.sh: TRANSFORM_NAME_MAPPINGS needs UPDATE=true" >&2
		exit 2
	fi
	;;
*)
	echo "run-template.sh: UPDATE must be true or false, got '$UPDATE'" >&2
	exit 2
	;;
esac

gcloud dataflow flex-template run "$JOB_NAME" "$@"
