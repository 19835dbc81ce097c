variable "gen" {
  type = number
}

resource "terraform_data" "table" {
  count            = 2
  triggers_replace = count.index == 0 ? var.gen : 0 # replaces table[0] only
}
