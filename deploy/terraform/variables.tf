variable "project" {
  description = "Project the job, its service account and the subscription live in."
  type        = string
}

variable "region" {
  description = "Dataflow region, e.g. europe-west1."
  type        = string
}

variable "job_name" {
  description = "Dataflow job name. Keep it: a changed name starts a second job."
  type        = string
  default     = "beametrics"
}

variable "template_path" {
  description = "Flex template spec written by deploy/build-template.sh, gs://BUCKET/templates/beametrics.json."
  type        = string
}

variable "artifact_registry_location" {
  description = "Location of the Artifact Registry repository holding the image."
  type        = string
}

variable "artifact_registry_repository" {
  description = "Name of the Artifact Registry repository holding the image."
  type        = string
}

variable "logs_topic" {
  description = "Pub/Sub topic the logs are published to, projects/P/topics/T."
  type        = string
}

variable "subscription_name" {
  description = "Name of the subscription created for the job."
  type        = string
  default     = "beametrics"
}

variable "config_bucket" {
  description = "Bucket holding the metrics YAML (read when the job is launched)."
  type        = string
}

variable "config_object" {
  description = "Object name of the metrics YAML in config_bucket, e.g. beametrics/metrics.yaml."
  type        = string
}

variable "staging_bucket" {
  description = "Bucket for Dataflow staging and temporary files (no soft delete)."
  type        = string
}

variable "monitoring_project" {
  description = "Project the Cloud Monitoring exporter writes to; empty: the job's project."
  type        = string
  default     = ""
}

variable "dead_letter_topic" {
  description = "Topic for refused records, projects/P/topics/T; empty: none (they are counted and the first few logged)."
  type        = string
  default     = ""
}

variable "max_workers" {
  description = "Upper bound of autoscaling."
  type        = number
  default     = 3
}

variable "extra_parameters" {
  description = "More template parameters (deploy/metadata.json), e.g. { \"allowed-lateness\" = \"2m\" }."
  type        = map(string)
  default     = {}
}
