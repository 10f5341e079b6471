"""Resource and data source handlers, by Terraform type name."""

from __future__ import annotations

from typing import Any

from novacron_tf.schema import ProviderSchemas


def registry(schemas: ProviderSchemas) -> tuple[dict[str, Any], dict[str, Any]]:
    from novacron_tf.resources.data_sources import NodeDataSource, VmDataSource
    from novacron_tf.resources.dwcp_mode import DwcpModeResource
    from novacron_tf.resources.vm import VmResource

    resources = {cls.type_name: cls(schemas.resources[cls.type_name]) for cls in (VmResource, DwcpModeResource)}
    data = {cls.type_name: cls(schemas.data_sources[cls.type_name]) for cls in (VmDataSource, NodeDataSource)}
    return resources, data
