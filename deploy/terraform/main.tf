# beametrics as a Dataflow flex template job reading a Pub/Sub subscription.
# See deploy/README.md and docs/dataflow.md.

locals {
  monitoring_project = var.monitoring_project != "" ? var.monitoring_project : var.project
  parameters = merge({
    subscription       = google_pubsub_subscription.logs.id
    config             = "gs://${var.config_bucket}/${var.config_object}"
    monitoring-project = local.monitoring_project
    }, var.dead_letter_topic == "" ? {} : {
    dead-letter = var.dead_letter_topic
  }, var.extra_parameters)
}

resource "google_service_account" "beametrics" {
  account_id   = "beametrics"
  display_name = "beametrics Dataflow job"
}

resource "google_pubsub_subscription" "logs" {
  name  = var.subscription_name
  topic = var.logs_topic
  # Longer than a bundle plus the time before Dataflow acks it.
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = "" # never expires while the job is stopped
  }
}

# Reading: Dataflow's native source pulls (subscriber) and reads the
# subscription's metadata (viewer).
resource "google_pubsub_subscription_iam_member" "subscriber" {
  subscription = google_pubsub_subscription.logs.name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.beametrics.member
}

resource "google_pubsub_subscription_iam_member" "viewer" {
  subscription = google_pubsub_subscription.logs.name
  role         = "roles/pubsub.viewer"
  member       = google_service_account.beametrics.member
}

# Running: the launcher VM and the workers act as this service account.
resource "google_project_iam_member" "dataflow_worker" {
  project = var.project
  role    = "roles/dataflow.worker"
  member  = google_service_account.beametrics.member
}

# Writing metrics.
resource "google_project_iam_member" "metric_writer" {
  project = local.monitoring_project
  role    = "roles/monitoring.metricWriter"
  member  = google_service_account.beametrics.member
}

# The config is read at launch by the launcher VM.
resource "google_storage_bucket_iam_member" "config_viewer" {
  bucket = var.config_bucket
  role   = "roles/storage.objectViewer"
  member = google_service_account.beametrics.member
}

# Staging the worker binary and Dataflow's temporary files.
resource "google_storage_bucket_iam_member" "staging_admin" {
  bucket = var.staging_bucket
  role   = "roles/storage.objectAdmin"
  member = google_service_account.beametrics.member
}

# The launcher VM pulls the template image.
resource "google_artifact_registry_repository_iam_member" "image_reader" {
  location   = var.artifact_registry_location
  repository = var.artifact_registry_repository
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.beametrics.member
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  count  = var.dead_letter_topic == "" ? 0 : 1
  topic  = var.dead_letter_topic
  role   = "roles/pubsub.publisher"
  member = google_service_account.beametrics.member
}

resource "google_dataflow_flex_template_job" "beametrics" {
  provider                = google-beta
  name                    = var.job_name
  region                  = var.region
  container_spec_gcs_path = var.template_path
  service_account_email   = google_service_account.beametrics.email
  staging_location        = "gs://${var.staging_bucket}/staging"
  temp_location           = "gs://${var.staging_bucket}/tmp"
  max_workers             = var.max_workers
  parameters              = local.parameters
  labels = {
    app = "beametrics"
  }
  # Stopping the job (terraform destroy, or a replacement) drains it: every
  # open window is exported before the job ends.
  on_delete = "drain"

  depends_on = [
    google_pubsub_subscription_iam_member.subscriber,
    google_pubsub_subscription_iam_member.viewer,
    google_project_iam_member.dataflow_worker,
    google_project_iam_member.metric_writer,
    google_storage_bucket_iam_member.config_viewer,
    google_storage_bucket_iam_member.staging_admin,
    google_artifact_registry_repository_iam_member.image_reader,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}
