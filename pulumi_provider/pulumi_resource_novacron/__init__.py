"""`pulumi-resource-novacron`: the native Pulumi provider for NovaCron, served over gRPC.

It implements the engine's ResourceProvider service from the protocol stubs the pulumi SDK ships
(`pulumi.runtime.proto`), and talks to agents only through `novacron_sdk.client`.
"""

from pathlib import Path

__version__ = "0.1.0"
SCHEMA_PATH = Path(__file__).with_name("schema.json")
RULES_PATH = Path(__file__).with_name("vm_rules.json")  # the VM's change rules, generated with the schema
