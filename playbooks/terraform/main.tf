# The demo cluster of playbooks/demo.yml, as Terraform sees it: same VMs, same nodes.
# Run by `DEMO_WITH=terraform make demo` (scripts/demo.sh sets the variables and the provider mirror).
terraform {
  required_providers {
    novacron = { source = "novacron/novacron", version = "0.1.0" }
  }
}

variable "token" {
  type      = string
  sensitive = true
}

provider "novacron" {
  endpoint = "http://127.0.0.1:18080"
  token    = var.token
  peer {
    endpoint = "http://127.0.0.1:18081"
    token    = var.token
  }
}

locals {
  vms = {
    "web-1" = { node = "node-a", vcpus = 2, memory_mib = 1024, labels = { role = "web", tier = "frontend" } }
    "web-2" = { node = "node-a", vcpus = 2, memory_mib = 1024, labels = { role = "web", tier = "frontend" } }
    "db-1"  = { node = "node-b", vcpus = 4, memory_mib = 4096, labels = { role = "db", tier = "backend" } }
  }
}

resource "novacron_vm" "demo" {
  for_each   = local.vms
  name       = each.key
  node       = each.value.node
  vcpus      = each.value.vcpus
  memory_mib = each.value.memory_mib
  labels     = each.value.labels
  state      = "running"
  disks {
    name     = "root"
    size_gib = 10
  }
}

resource "novacron_dwcp_mode" "node_a" {
  mode                  = "auto"
  v3_rollout_percentage = 100
}

output "placement" {
  value = { for name, vm in novacron_vm.demo : name => vm.node }
}
