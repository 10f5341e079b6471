"""libvirt's view of one domain, and how libvirt's power states read in our model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libvirt

from novacron.hypervisor.parse import ParsedDomain, VolumeFacts, observed_spec

STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "unknown",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting_down",
    libvirt.VIR_DOMAIN_SHUTOFF: "stopped",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "paused",
}
# What the spec's `state` field reads for each actual state.
SPEC_STATE = {"running": "running", "paused": "paused", "shutting_down": "running"}


@dataclass
class Observation:
    """libvirt's view of one domain: persistent config, live definition and power state."""

    name: str
    uuid: str
    state: str
    config: ParsedDomain
    live: ParsedDomain | None
    autostart: bool
    volumes: dict[str, VolumeFacts] = field(default_factory=dict)
    config_xml: str = ""  # the persistent definition as libvirt formats it

    @property
    def active(self) -> bool:
        return self.live is not None

    def spec(self, configured_pool: str, *, live: bool = False) -> dict[str, Any]:
        parsed = self.live if live and self.live is not None else self.config
        return observed_spec(
            parsed,
            state=SPEC_STATE.get(self.state, "stopped"),
            autostart=self.autostart,
            volumes=self.volumes,
            configured_pool=configured_pool,
        )
