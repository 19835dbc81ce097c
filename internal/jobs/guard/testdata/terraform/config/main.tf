# A configuration that needs no provider download: terraform_data and
# terraform_remote_state are built into Terraform. generate.sh applies it
# with gen=1, plans gen=2 and saves `terraform show -json` of that plan.
variable "gen" {
  type = number
}

resource "terraform_data" "keep" {
  input = var.gen == 1 ? "a" : "b" # update in place
}

resource "terraform_data" "gone" {
  count = var.gen == 1 ? 1 : 0 # gen=2 deletes gone[0]
  input = "x"
}

resource "terraform_data" "bucket" {
  # gen=2 drops "raw" (delete) and replaces "logs" (delete then create).
  for_each         = var.gen == 1 ? toset(["logs", "raw"]) : toset(["logs"])
  triggers_replace = var.gen == 1 ? "v1" : "v2"
}

resource "terraform_data" "cbd" {
  triggers_replace = var.gen
  lifecycle {
    create_before_destroy = true # replace as create then delete
  }
}

resource "terraform_data" "same" {
  input = "same" # no-op
}

resource "terraform_data" "fresh" {
  count = var.gen == 2 ? 1 : 0 # create
  input = "new"
}

# Read during apply, because its path is known only then.
data "terraform_remote_state" "later" {
  count   = var.gen == 2 ? 1 : 0
  backend = "local"
  config = {
    path = terraform_data.fresh[0].id
  }
}

module "store" {
  source = "./modules/store"
  gen    = var.gen
}
