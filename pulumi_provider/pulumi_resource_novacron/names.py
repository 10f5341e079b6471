"""The one place where Pulumi names (camelCase) and agent names (snake_case) meet.

`camel`/`snake` convert a single name; `Shapes` (schema.py) applies them along the schema so
that map keys (labels) are data and stay untouched. A test checks that both directions agree with
the schema generator for every property of every model.
"""

from __future__ import annotations

import re

_UPPER = re.compile(r"(?<!^)(?=[A-Z])")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    return _UPPER.sub("_", name).lower()


def is_identifier(key: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) is not None


def join(path: str, key: str | int) -> str:
    """A Pulumi property path: `disks[0].sizeGib`, `labels["app.io/tier"]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not is_identifier(key):
        return f'{path}["{key}"]'
    return f"{path}.{key}" if path else key
