"""NovaCron SDK: the resource models, the error vocabulary and the HTTP client every face shares.

Light on purpose (pydantic and httpx only): a workstation running Ansible, Terraform or Pulumi
installs this, never the agent daemon and its libvirt, database and web-server dependencies.
"""

__version__ = "0.1.0"
