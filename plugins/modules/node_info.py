#!/usr/bin/python
# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: node_info
short_description: Health, DWCP mode, capacity and version of a NovaCron agent
version_added: 0.1.0
description:
- Reads the agent's C(/health) (boot phase and each component) and C(/api/v1/node).
author:
- NovaCron contributors (@novacron)
options: {}
extends_documentation_fragment:
- novacron.cloud.connection
- novacron.cloud.connection.info_attributes
'''

EXAMPLES = r'''
- name: Wait for the agent to be healthy
  novacron.cloud.node_info:
  register: node
  until: node.health.status == 'healthy'
  retries: 30
  delay: 2
'''

RETURN = r'''
node:
  description: Identity, status, hypervisor, DWCP mode and capacity.
  returned: always
  type: dict
  sample: {"node_id": "hv01", "version": "0.1.0", "status": "healthy", "mode": "datacenter",
           "capacity": {"cpus": 2, "memory_mib": 24000, "vms": 1, "vcpus_allocated": 2, "memory_allocated_mib": 2048}}
health:
  description: The agent's boot progress and component states.
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.novacron.cloud.plugins.module_utils._api import (
    AgentClient,
    AgentError,
    connection_args,
    fail_from_error,
)


def main():
    module = AnsibleModule(argument_spec=connection_args(), supports_check_mode=True)
    client = AgentClient.from_module(module)
    try:
        health = client.health()
        node = client.node()
    except AgentError as exc:
        fail_from_error(module, exc, 'node_info')
    module.exit_json(changed=False, node=node, health=health)


if __name__ == '__main__':
    main()
