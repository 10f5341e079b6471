"""Generate the Ansible collection's argument specs and documentation fragments from the models.

`python -m novacron.faces.ansible` rewrites `plugins/module_utils/_specs.py` and
`plugins/doc_fragments/specs.py`; `--check` exits non-zero when they are stale (a test runs it).
`_specs.py` also carries the SDK's migration-waiting rule (final phases, poll interval, wording):
modules run on managed nodes without `novacron_sdk`, so `module_utils/_migration.py` waits with
these values, and a test checks it behaves as `NovacronClient.wait_migration` does.
Top-level resource options get no Ansible default: an option left out keeps the VM's current
value, and the documentation states the default applied when the resource is created.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from novacron.faces.fields import FieldNode, model_fields
from novacron_sdk import client as sdk_client
from novacron_sdk.models.migration import MigrationOptions
from novacron_sdk.models.mode import ModeSettings
from novacron_sdk.models.vm import VirtualMachineSpec

REPO = Path(__file__).resolve().parents[3]
SPECS_PY = REPO / "plugins" / "module_utils" / "_specs.py"
FRAGMENTS_PY = REPO / "plugins" / "doc_fragments" / "specs.py"
_TYPES = {"str": "str", "int": "int", "float": "float", "bool": "bool", "map": "dict", "object": "dict", "list": "list"}

# (fragment name, model, fields left to the module, whether top-level defaults are dropped)
RESOURCES: list[tuple[str, type, frozenset[str], bool]] = [
    ("vm", VirtualMachineSpec, frozenset({"state"}), True),
    ("mode", ModeSettings, frozenset(), True),
    ("migration", MigrationOptions, frozenset(), True),
]


def _arg(node: FieldNode, top: bool, drop_defaults: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": _TYPES[node.kind]}
    if node.required:
        spec["required"] = True
    if node.choices is not None:
        spec["choices"] = list(node.choices)
    if node.kind == "list" and node.items is not None:
        spec["elements"] = _TYPES[node.items.kind]
        if node.items.kind == "object":
            spec["options"] = {f.name: _arg(f, False, False) for f in node.items.fields}
    if node.kind == "object":
        spec["options"] = {f.name: _arg(f, False, False) for f in node.fields}
    if not node.required and not (top and drop_defaults) and node.default not in (None, [], {}):
        spec["default"] = node.default
    return spec


def _doc(node: FieldNode, top: bool, drop_defaults: bool) -> dict[str, Any]:
    desc = [node.description.rstrip(".") + "." if node.description else f"The C({node.name}) field."]
    if node.minimum is not None or node.maximum is not None:
        lo = "" if node.minimum is None else f"at least {_num(node.minimum)}"
        hi = "" if node.maximum is None else f"at most {_num(node.maximum)}"
        desc.append("Must be " + " and ".join(x for x in (lo, hi) if x) + ".")
    if node.pattern:
        desc.append(f"Must match C({node.pattern}).")
    if top and drop_defaults and not node.required:
        shown = node.default if node.default not in (None, [], {}) else None
        when = f"the agent's default C({shown!r})" if shown is not None else "none"
        desc.append(f"Left out, the current value is kept; a new resource gets {when}.")
    doc: dict[str, Any] = {"description": desc, "type": _TYPES[node.kind]}
    if node.required:
        doc["required"] = True
    if node.choices is not None:
        doc["choices"] = list(node.choices)
    if node.kind == "list" and node.items is not None:
        doc["elements"] = _TYPES[node.items.kind]
        if node.items.kind == "object":
            doc["suboptions"] = {f.name: _doc(f, False, False) for f in node.items.fields}
    if node.kind == "object":
        doc["suboptions"] = {f.name: _doc(f, False, False) for f in node.fields}
    if not node.required and not (top and drop_defaults) and node.default not in (None, [], {}):
        doc["default"] = node.default
    return doc


def _py(value: Any, depth: int = 0) -> str:
    """Python literal with hanging indents (pep8-clean, as ansible-test's sanity wants)."""
    pad, inner = "    " * depth, "    " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{k!r}: {_py(v, depth + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list):
        return "[" + ", ".join(_py(v, depth + 1) for v in value) + "]"
    return repr(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def build() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    specs, docs = {}, {}
    for name, model, exclude, drop in RESOURCES:
        nodes = model_fields(model, exclude=exclude)
        specs[name] = {n.name: _arg(n, True, drop) for n in nodes}
        docs[name] = {n.name: _doc(n, True, drop) for n in nodes}
    return specs, docs


HEADER = (
    "# GENERATED by `python -m novacron.faces.ansible` from agent/novacron/models. Do not edit:\n"
    "# change the pydantic model and regenerate (tests/ansible/test_inventory_and_docs.py checks it is current).\n"
)


def render() -> tuple[str, str]:
    specs, docs = build()
    lines = [HEADER, "from __future__ import annotations\n\n"]
    for name, spec in specs.items():
        lines.append(f"{name.upper()}_OPTIONS = {_py(spec)}\n\n")
    lines.append("# How a migration is waited for: novacron_sdk.client.NovacronClient.wait_migration.\n")
    for name in ("MIGRATION_FINAL", "MIGRATION_POLL_S", "MIGRATION_ENDED", "MIGRATION_TIMED_OUT"):
        lines.append(f"{name} = {getattr(sdk_client, name)!r}\n")
    specs_py = "".join(lines).rstrip() + "\n"
    frag = [HEADER, "from __future__ import annotations\n\n\n", "class ModuleDocFragment:\n",
            "    DOCUMENTATION = r'''\noptions: {}\n'''\n"]
    for name, doc in docs.items():
        body = yaml.safe_dump({"options": doc}, sort_keys=False, width=100)
        frag.append(f"\n    {name.upper()} = r'''\n{body}'''\n")
    return specs_py, "".join(frag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the files are stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in zip((SPECS_PY, FRAGMENTS_PY), render(), strict=True):
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if args.check and stale:
        print("stale: " + ", ".join(str(p.relative_to(REPO)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
