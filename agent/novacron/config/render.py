"""Render a config as commented YAML, each key preceded by its field description.

Walks the pydantic model, so every field the model gains appears in `novacron config generate`
with its documentation. Secrets render as null: generated output never carries a secret.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, SecretStr

from novacron.config.model import AgentConfig

HEADER = """\
# NovaCron agent configuration.
# Every key is optional; shown values are the defaults. Environment variables override keys:
# NOVACRON_<SECTION>__<FIELD> (e.g. NOVACRON_DWCP__TRANSPORT__MAX_STREAMS=128), and the short
# forms NOVACRON_NODE_ID, NOVACRON_DWCP_MODE, NOVACRON_LOG_LEVEL.
"""


def _scalar(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "null"
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return dumped.removesuffix("\n...").removesuffix("...").strip()


def _render(model: BaseModel, indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if field.description:
            lines.append(f"{pad}# {field.description}")
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            _render(value, indent + 1, lines)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            lines.append(f"{pad}{name}:")
            for item in value:
                block = yaml.safe_dump([item.model_dump(mode="json")], sort_keys=False).rstrip()
                lines.extend(f"{pad}  {line}" for line in block.splitlines())
        else:
            plain = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
            if hasattr(plain, "__fspath__"):
                plain = str(plain)
            lines.append(f"{pad}{name}: {_scalar(plain)}")


def render_config(config: AgentConfig) -> str:
    lines: list[str] = [HEADER.rstrip()]
    for name in type(config).model_fields:
        section = getattr(config, name)
        lines.append("")
        if isinstance(section, BaseModel):
            doc = (type(section).__doc__ or "").strip().splitlines()
            if doc:
                lines.append(f"# {doc[0]}")
            lines.append(f"{name}:")
            _render(section, 1, lines)
        elif isinstance(section, list) and not section:
            lines.append("# Other agents this node may migrate to: [{node_id, api_url, dwcp_address}]")
            lines.append(f"{name}: []")
        else:
            lines.append(f"{name}:")
            block = yaml.safe_dump([p.model_dump(mode="json") for p in section], sort_keys=False)
            lines.extend(f"  {line}" for line in block.rstrip().splitlines())
    return "\n".join(lines) + "\n"


def render_default_config() -> str:
    return render_config(AgentConfig())
