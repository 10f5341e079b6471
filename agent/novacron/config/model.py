"""The agent's configuration file as one pydantic model.

Every face that writes a config (the Ansible role, `novacron config generate`, the demo) goes
through this model, so a config that loads here is the only kind that exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from novacron_sdk.models.node import NODE_ID_PATTERN

DwcpMode = Literal["datacenter", "internet", "hybrid"]
ForcedMode = Literal["", "datacenter", "internet", "hybrid"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SystemConfig(_Section):
    """Identity of this node and where it keeps its files."""

    node_id: str = Field(
        default="node-1",
        pattern=NODE_ID_PATTERN,
        description="Unique name of this node in the cluster.",
    )
    data_dir: Path = Field(default=Path("/var/lib/novacron"), description="State, disks and keys.")
    max_concurrency: int = Field(default=8, ge=1, le=1024, description="Parallel long operations.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO")


class TransportConfig(_Section):
    """AMST: how many TCP streams carry one logical channel and how they are tuned."""

    min_streams: int = Field(default=4, ge=4, le=512, description="Fewest parallel TCP streams.")
    max_streams: int = Field(default=64, ge=4, le=512, description="Most parallel TCP streams.")
    congestion_algo: Literal["bbr", "cubic", "adaptive"] = Field(
        default="adaptive", description="Per-socket TCP congestion control; adaptive picks per link."
    )
    socket_buffer_bytes: int = Field(default=4 << 20, ge=64 << 10, le=1 << 30)

    @model_validator(mode="after")
    def _min_le_max(self) -> TransportConfig:
        if self.min_streams > self.max_streams:
            raise ValueError(f"min_streams ({self.min_streams}) must be <= max_streams ({self.max_streams})")
        return self


class CompressionConfig(_Section):
    """HDE: the codec behind dedup and delta, and its level."""

    algorithm: Literal["zstd", "lz4", "none"] = Field(default="zstd")
    level: int = Field(default=3, ge=0, le=22)


class ProbeConfig(_Section):
    """Link probing between agents: pings for RTT, short bursts for bandwidth (cost: see
    novacron.transport.probe.runner). Shorten the intervals in tests so detection converges quickly."""

    port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Probe endpoint port; null: dwcp.listen_port + 1 (ephemeral when listen_port is 0); "
        "0: ephemeral.",
    )
    interval_s: float = Field(default=2.0, gt=0, le=3600, description="Seconds between pings to each peer.")
    bandwidth_interval_s: float = Field(
        default=30.0, gt=0, le=86400, description="Seconds between bandwidth probes of an idle link."
    )
    bandwidth_bytes: int = Field(
        default=24 << 20, ge=0, le=64 << 20,
        description="Most bytes one bandwidth probe sends (it sends 4 MiB on short paths, more on long ones); 0: none.",
    )


class DwcpConfig(_Section):
    """The data plane: mode detection, v3 feature flags and their rollout."""

    enable_auto_detection: bool = True
    forced_mode: ForcedMode = Field(default="", description="Empty: detect; otherwise pin this mode.")
    enable_v3_transport: bool = True
    enable_v3_compression: bool = True
    enable_v3_prediction: bool = True
    v3_rollout_percentage: int = Field(default=100, ge=0, le=100)
    listen_port: int = Field(default=7070, ge=0, le=65535, description="Agent-to-agent DWCP port.")
    transport: TransportConfig = Field(default_factory=TransportConfig)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    tls_cert: Path | None = Field(
        default=None, description="This node's certificate (signed by the cluster CA, DNS name = node_id)."
    )
    tls_key: Path | None = Field(default=None, description="Private key of tls_cert.")
    tls_ca: Path | None = Field(
        default=None, description="Cluster CA: a peer must present a certificate it signed (mutual TLS)."
    )
    libvirt_migration_uri: str = Field(
        default="",
        description="URI other nodes use to reach this node's libvirtd to control a migration "
        "(e.g. qemu+tls://host/system); empty: hypervisor.uri.",
    )

    @model_validator(mode="after")
    def _tls_together(self) -> DwcpConfig:
        given = [n for n in ("tls_cert", "tls_key", "tls_ca") if getattr(self, n) is not None]
        if given and len(given) != 3:
            raise ValueError("tls_cert, tls_key and tls_ca must be set together")
        return self


class ApiConfig(_Section):
    """REST API listener; HTTPS when a certificate and key are given."""

    listen_address: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_body_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)

    @model_validator(mode="after")
    def _cert_and_key(self) -> ApiConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be set together")
        return self


class MetricsConfig(_Section):
    """Prometheus endpoint, on its own port so scraping never competes with the API."""

    enabled: bool = True
    listen_address: str = "127.0.0.1"
    port: int = Field(default=9091, ge=0, le=65535)


class HypervisorConfig(_Section):
    """Which libvirt to drive and the ceilings that make live resizing possible."""

    uri: str = Field(default="test:///default", description="libvirt connection URI.")
    accel: Literal["auto", "kvm", "tcg"] = Field(
        default="auto", description="auto: KVM where it really runs guests, else TCG."
    )
    max_vcpus: int = Field(default=16, ge=1, le=1024, description="Ceiling for live vCPU hot-plug.")
    max_memory_mib: int = Field(default=65536, ge=64, description="Ceiling for live memory changes.")
    storage_pool: str = Field(default="default")
    shutdown_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    image_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories that VM base images, kernels and initrds must be in (absolute; "
        "symlinks are followed and must stay inside); empty: the storage pool's directory and "
        "data_dir/images.",
    )

    @field_validator("image_dirs")
    @classmethod
    def _absolute_dirs(cls, v: list[Path]) -> list[Path]:
        relative = [str(p) for p in v if not p.is_absolute()]
        if relative:
            raise ValueError(f"must be absolute paths: {', '.join(relative)}")
        return v


class StoreConfig(_Section):
    """Where the agent keeps VM specs, events and migrations."""

    url: str = Field(default="", description="Empty: SQLite in data_dir; or sqlite:///path or postgresql://…")

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if v and not v.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise ValueError("must be empty, sqlite:///PATH or postgresql://…")
        return v


class AuthConfig(_Section):
    """Where the JWT signing key comes from. The key itself never appears in config output."""

    secrets_backend: Literal["file", "env", "vault"] = "file"
    key_file: Path | None = Field(default=None, description="file backend; default data_dir/jwt.key")
    key_env: str = Field(default="NOVACRON_JWT_KEY", description="env backend: variable holding the key")
    vault_addr: str = ""
    vault_token: SecretStr | None = None
    vault_path: str = Field(default="novacron/jwt", description="KV v2 path under the mount")
    vault_mount: str = "secret"
    token_ttl_s: int = Field(default=3600, ge=60, le=30 * 86400, description="Lifetime of a token minted without --ttl.")
    max_token_ttl_s: int = Field(
        default=30 * 86400, ge=60, le=366 * 86400,
        description="Longest lifetime a client token may have; longer ones are refused when minted and when used.",
    )
    issuer: str = "novacron"

    @model_validator(mode="after")
    def _ttl_within_max(self) -> AuthConfig:
        if self.token_ttl_s > self.max_token_ttl_s:
            raise ValueError(f"token_ttl_s ({self.token_ttl_s}) must be <= max_token_ttl_s ({self.max_token_ttl_s})")
        return self


class PeerConfig(_Section):
    """Another agent this node may migrate to or probe."""

    node_id: str = Field(pattern=NODE_ID_PATTERN)
    api_url: str = Field(pattern=r"^https?://")
    dwcp_address: str = ""
    probe_address: str = Field(
        default="",
        pattern=r"^$|^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):[0-9]{1,5}$",
        description="HOST:PORT of the peer's probe endpoint; empty: the host of dwcp_address (else of "
        "api_url) with this node's probe port.",
    )


class AgentConfig(_Section):
    """The whole config file."""

    system: SystemConfig = Field(default_factory=SystemConfig)
    dwcp: DwcpConfig = Field(default_factory=DwcpConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    hypervisor: HypervisorConfig = Field(default_factory=HypervisorConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    peers: list[PeerConfig] = Field(default_factory=list)

    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.system.data_dir / 'novacron.db'}"

    def jwt_key_file(self) -> Path:
        return self.auth.key_file or self.system.data_dir / "jwt.key"
