#!/bin/sh
# Regenerates plan.json from config/ with a real Terraform, offline.
# Usage: generate.sh [OUTPUT]   (default: plan.json beside this script)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/plan.json}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$here/config/." "$work/"
cd "$work"
export TF_IN_AUTOMATION=1 TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1
terraform init -input=false -no-color >/dev/null
terraform apply -input=false -no-color -auto-approve -var gen=1 >/dev/null
terraform plan -input=false -no-color -var gen=2 -out=plan.bin >/dev/null
terraform show -json plan.bin >"$out"
