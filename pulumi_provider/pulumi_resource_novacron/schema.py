"""The package schema (generated from the models) and the shape conversions it drives.

`Shapes` walks a value alongside its schema: object properties are renamed between camelCase and
snake_case, map keys (`labels`) are left as the user wrote them, and an agent error path such as
`disks.0.base_image` becomes the Pulumi path `disks[0].baseImage`.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pulumi_resource_novacron import SCHEMA_PATH, __version__
from pulumi_resource_novacron.names import camel, join, snake
from pulumi_resource_novacron.values import Secret, Unknown

VM = "novacron:index:VirtualMachine"
MODE = "novacron:index:DwcpMode"
PROVIDER = "pulumi:providers:novacron"


@cache
def document() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def schema_text() -> str:
    return json.dumps({**document(), "version": __version__})


class Shapes:
    """Conversions for one resource's property bag (its `inputProperties` or `properties`)."""

    def __init__(self, props: dict[str, Any]) -> None:
        self.props = props

    @classmethod
    def inputs(cls, token: str) -> Shapes:
        return cls(document()["resources"][token]["inputProperties"])

    @classmethod
    def outputs(cls, token: str) -> Shapes:
        return cls(document()["resources"][token]["properties"])

    @classmethod
    def provider(cls) -> Shapes:
        return cls(document()["provider"]["inputProperties"])

    # -- walking -----------------------------------------------------------------------------------
    @staticmethod
    def _resolve(spec: dict[str, Any] | None) -> dict[str, Any] | None:
        if spec and "$ref" in spec:
            return document()["types"][spec["$ref"].removeprefix("#/types/")]
        return spec

    def _obj(self, props: dict[str, Any], value: dict[str, Any], to_agent: bool) -> dict[str, Any]:
        out = {}
        for key, v in value.items():
            pulumi_key = camel(key) if not to_agent else key
            new_key = snake(key) if to_agent else camel(key)
            out[new_key] = self._value(props.get(pulumi_key), v, to_agent)
        return out

    def _value(self, spec: dict[str, Any] | None, v: Any, to_agent: bool) -> Any:
        if isinstance(v, Secret):
            return Secret(self._value(spec, v.value, to_agent))
        if isinstance(v, Unknown) or v is None:
            return v
        spec = self._resolve(spec)
        if spec is None:
            return v
        if isinstance(v, list) and spec.get("type") == "array":
            return [self._value(spec.get("items"), x, to_agent) for x in v]
        if isinstance(v, dict) and "properties" in spec:
            return self._obj(spec["properties"], v, to_agent)
        return v  # maps (additionalProperties) and scalars: as they are

    def to_agent(self, value: dict[str, Any]) -> dict[str, Any]:
        return self._obj(self.props, value, to_agent=True)

    def to_pulumi(self, value: dict[str, Any]) -> dict[str, Any]:
        return self._obj(self.props, value, to_agent=False)

    # -- paths -------------------------------------------------------------------------------------
    def path(self, loc: tuple[str | int, ...] | list[str | int] | str) -> str:
        """The Pulumi property path of an agent/pydantic location (`("disks", 0, "size_gib")`)."""
        parts: list[str | int] = (
            [int(p) if p.isdigit() else p for p in loc.split(".")] if isinstance(loc, str) else list(loc)
        )
        out, props, spec = "", self.props, None
        for part in parts:
            if isinstance(part, int):
                out = join(out, part)
                spec = self._resolve(spec.get("items")) if spec else None
                props = spec.get("properties", {}) if spec else {}
                continue
            if spec is not None and "additionalProperties" in spec:  # a map key: data, keep it
                out = join(out, part)
                spec, props = None, {}
                continue
            name = camel(part) if part not in props else part
            out = join(out, name)
            spec = self._resolve(props.get(name))
            props = spec.get("properties", {}) if spec else {}
        return out or "(resource)"

    def secret_names(self) -> set[str]:
        return {k for k, spec in self.props.items() if spec.get("secret")}
