"""NovaCron's Terraform provider: a tfplugin6 gRPC server in Python over the agent's REST API."""

from __future__ import annotations

__version__ = "0.1.0"
SOURCE_ADDRESS = "registry.terraform.io/novacron/novacron"
