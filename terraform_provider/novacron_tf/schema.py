"""The provider's schemas: `schemas.json` (derived from the agent's models) as Python and protobuf.

A block's value travels as an object whose attributes are the block's attributes plus one per
nested block type (SINGLE: object or null; LIST: list of objects), so every block also has an
implied cty type that the codec uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from novacron_tf.cty import CtyType, type_json

SCHEMAS_JSON = Path(__file__).resolve().parent / "schemas.json"
RULES_JSON = SCHEMAS_JSON.with_name("vm_rules.json")  # the VM's change rules, generated with the schemas


@dataclass(frozen=True)
class Attribute:
    name: str
    type: CtyType
    description: str = ""
    required: bool = False
    optional: bool = False
    computed: bool = False
    sensitive: bool = False
    default: Any = None  # planned when the argument is left out (from the model's default)


@dataclass(frozen=True)
class NestedBlock:
    type_name: str
    nesting: str  # "single" | "list"
    block: Block
    min_items: int = 0
    max_items: int = 0


@dataclass(frozen=True)
class Block:
    attributes: tuple[Attribute, ...] = ()
    block_types: tuple[NestedBlock, ...] = ()
    description: str = ""
    attr_index: dict[str, Attribute] = field(default_factory=dict, compare=False, repr=False)
    block_index: dict[str, NestedBlock] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.attr_index.update({a.name: a for a in self.attributes})
        self.block_index.update({b.type_name: b for b in self.block_types})

    def implied_type(self) -> CtyType:
        attrs: dict[str, CtyType] = {a.name: a.type for a in self.attributes}
        for nb in self.block_types:
            inner = nb.block.implied_type()
            attrs[nb.type_name] = ["list", inner] if nb.nesting == "list" else inner
        return ["object", attrs]


@dataclass(frozen=True)
class Schema:
    version: int
    block: Block

    @property
    def type(self) -> CtyType:
        return self.block.implied_type()


def _block(doc: dict[str, Any]) -> Block:
    attrs = tuple(Attribute(**{k: v for k, v in a.items() if k in Attribute.__dataclass_fields__})
                  for a in doc["attributes"])
    blocks = tuple(NestedBlock(b["type_name"], b["nesting"], _block(b["block"]), b.get("min_items", 0),
                               b.get("max_items", 0)) for b in doc["block_types"])
    return Block(attrs, blocks, doc.get("description", ""))


@dataclass(frozen=True)
class ProviderSchemas:
    provider: Schema
    resources: dict[str, Schema]
    data_sources: dict[str, Schema]


@cache
def load(path: Path = SCHEMAS_JSON) -> ProviderSchemas:
    doc = json.loads(path.read_text())

    def schema(d: dict[str, Any]) -> Schema:
        return Schema(int(d.get("version", 0)), _block(d["block"]))

    return ProviderSchemas(
        provider=schema(doc["provider"]),
        resources={k: schema(v) for k, v in doc["resources"].items()},
        data_sources={k: schema(v) for k, v in doc["data_sources"].items()},
    )


# ---------------------------------------------------------------- protobuf


def to_proto(schema: Schema, pb: Any) -> Any:
    return pb.Schema(version=schema.version, block=_block_proto(schema.block, pb, schema.version))


def _block_proto(block: Block, pb: Any, version: int = 0) -> Any:
    nesting = {"single": pb.Schema.NestedBlock.SINGLE, "list": pb.Schema.NestedBlock.LIST}
    return pb.Schema.Block(
        version=version,
        description=block.description,
        description_kind=pb.MARKDOWN,
        attributes=[
            pb.Schema.Attribute(name=a.name, type=type_json(a.type), description=a.description,
                                description_kind=pb.MARKDOWN, required=a.required, optional=a.optional,
                                computed=a.computed, sensitive=a.sensitive)
            for a in block.attributes
        ],
        block_types=[
            pb.Schema.NestedBlock(type_name=nb.type_name, block=_block_proto(nb.block, pb),
                                  nesting=nesting[nb.nesting], min_items=nb.min_items, max_items=nb.max_items)
            for nb in block.block_types
        ],
    )
