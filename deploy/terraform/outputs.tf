output "job_id" {
  description = "Dataflow job ID."
  value       = google_dataflow_flex_template_job.beametrics.job_id
}

output "service_account" {
  description = "E-mail of the job service account."
  value       = google_service_account.beametrics.email
}

output "subscription" {
  description = "The subscription the job reads."
  value       = google_pubsub_subscription.logs.id
}
