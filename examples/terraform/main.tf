# One fcm VM, managed with Terraform. See README.md for installing the
# provider (dev_overrides, no registry) and connecting to your daemon.

terraform {
  required_providers {
    fcm = {
      source = "fcm/fcm"
    }
  }
}

provider "fcm" {
  # host  = "http://localhost:7777"   # default: $FCM_HOST, then http://localhost:7777
  # token = var.fcm_token             # default: $FCM_TOKEN, then ~/.fcm-token
}

variable "name" {
  type    = string
  default = "tf-web"
}

variable "memory_mib" {
  type    = number
  default = 1024
}

variable "swap_mib" {
  type    = number
  default = 512
}

variable "running" {
  type    = bool
  default = true
}

resource "fcm_vm" "web" {
  name       = var.name
  memory_mib = var.memory_mib # in place: a running VM restarts with the new size
  swap_mib   = var.swap_mib   # changing it (or disk_mib, port, image, name) replaces the VM
  running    = var.running    # a VM stopped outside Terraform shows up in the next plan
  # domains  = ["www.example.com"]
  # sleep_after = "15m"         # asleep after 15 idle minutes (memory saved to disk); the next request wakes it
}

# The same VM looked up by name (e.g. from another configuration).
data "fcm_vm" "web" {
  name = fcm_vm.web.name
}

output "url" {
  value = fcm_vm.web.url
}

output "git_url" {
  value = fcm_vm.web.git_url
}

output "ip" {
  value = data.fcm_vm.web.ip
}
