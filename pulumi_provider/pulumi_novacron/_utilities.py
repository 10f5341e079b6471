"""Helpers the generated resource classes share (the same contract as Pulumi's codegen)."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pulumi


def get_version() -> str:
    try:
        return importlib.metadata.version("pulumi-novacron")
    except importlib.metadata.PackageNotFoundError:
        return "0.1.0"


def get_resource_opts_defaults() -> pulumi.ResourceOptions:
    """Pin the plugin version the engine loads to this SDK's version."""
    return pulumi.ResourceOptions(version=get_version())


def get_resource_args_opts(resource_args_type: type, resource_options_type: type, *args: Any,
                           **kwargs: Any) -> tuple[Any, Any]:
    """(args object, options) from a resource's `__init__(*args, **kwargs)`, whichever form was used."""
    resource_args, opts = None, None
    if args and isinstance(args[0], resource_args_type):
        resource_args, args = args[0], args[1:]
    if args and isinstance(args[0], resource_options_type):
        opts = args[0]
    if resource_args is None and isinstance(kwargs.get("args"), resource_args_type):
        resource_args = kwargs["args"]
    if opts is None:
        opts = kwargs.get("opts")
    return resource_args, opts
