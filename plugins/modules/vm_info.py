#!/usr/bin/python
# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: vm_info
short_description: List VMs on a NovaCron agent, by name or labels
version_added: 0.1.0
description:
- Returns one VM (O(name)) or all VMs, optionally only those carrying every given label.
author:
- NovaCron contributors (@novacron)
options:
  name:
    description:
    - Only this VM. A missing VM returns an empty list, not an error.
    type: str
  labels:
    description:
    - Only VMs that carry all these labels (key and value).
    type: dict
extends_documentation_fragment:
- novacron.cloud.connection
- novacron.cloud.connection.info_attributes
'''

EXAMPLES = r'''
- name: All web VMs
  novacron.cloud.vm_info:
    labels:
      role: web
  register: web

- name: Their names
  ansible.builtin.debug:
    msg: "{{ web.vms | map(attribute='name') | list }}"
'''

RETURN = r'''
vms:
  description: The matching VMs, each with its spec and observed C(status).
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.novacron.cloud.plugins.module_utils._api import (
    AgentClient,
    AgentError,
    connection_args,
    fail_from_error,
)


def main():
    argument_spec = dict(name=dict(type='str'), labels=dict(type='dict'))
    argument_spec.update(connection_args())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    client = AgentClient.from_module(module)
    labels = dict((str(k), str(v)) for k, v in (module.params['labels'] or {}).items())
    try:
        if module.params['name']:
            vm = client.get_vm(module.params['name'])
            vms = [vm] if vm and all((vm.get('labels') or {}).get(k) == v for k, v in labels.items()) else []
        else:
            vms = client.list_vms(labels)
    except AgentError as exc:
        fail_from_error(module, exc, 'vm_info')
    module.exit_json(changed=False, vms=vms)


if __name__ == '__main__':
    main()
