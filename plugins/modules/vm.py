#!/usr/bin/python
# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: vm
short_description: Declare a virtual machine on a NovaCron agent
version_added: 0.1.0
description:
- Makes the VM on the agent match the given options, changing only what differs.
- Memory and vCPU changes are applied live where the hypervisor allows and otherwise at the next
  boot; the result says which. A change that needs a new VM is refused unless O(recreate=true).
- Comparison is semantic and done by the agent, so a second run reports no change.
- State changes wait until libvirt reports the target state, or fail saying where it got stuck.
- In check mode the agent computes the same answer with C(dry_run) and touches nothing.
author:
- NovaCron contributors (@novacron)
options:
  state:
    description:
    - V(present) makes sure the VM exists (a new VM starts running; an existing one keeps its power state).
    - V(running), V(stopped) and V(paused) also set the power state; V(stopped) is a graceful ACPI shutdown.
    - V(absent) removes the VM and the storage the agent created for it (see O(keep_storage)).
    type: str
    choices: [present, absent, running, stopped, paused]
    default: present
  recreate:
    description:
    - Allow changes that can only be made by rebuilding the VM (for example a disk's base image).
    type: bool
    default: false
  force_stop:
    description:
    - If a graceful shutdown does not finish in the agent's timeout, power the VM off.
    type: bool
    default: false
  keep_storage:
    description:
    - With O(state=absent), keep the volumes the agent created.
    type: bool
    default: false
extends_documentation_fragment:
- novacron.cloud.specs.vm
- novacron.cloud.connection
- novacron.cloud.connection.attributes
'''

EXAMPLES = r'''
- name: A small VM with a disk and a NIC, running
  novacron.cloud.vm:
    url: http://hv01:8080
    token: "{{ novacron_token }}"
    name: web-1
    vcpus: 2
    memory_mib: 2048
    disks:
      - name: root
        base_image: /var/lib/images/debian-12.qcow2
    networks:
      - network: default
    labels:
      role: web
    state: running

- name: Grow memory live (no reboot, no rebuild)
  novacron.cloud.vm:
    name: web-1
    memory_mib: 4096

- name: Stop gracefully, forcing off after the timeout
  novacron.cloud.vm:
    name: web-1
    state: stopped
    force_stop: true

- name: Remove it and its volumes
  novacron.cloud.vm:
    name: web-1
    state: absent
'''

RETURN = r'''
vm:
  description: The VM after the change (in check mode, as it would be). Empty after removal.
  returned: success
  type: dict
  sample: {"name": "web-1", "vcpus": 2, "memory_mib": 2048, "state": "running",
           "status": {"uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f", "node": "hv01", "actual_state": "running"}}
changes:
  description: Each field that changed and how it was applied (live, next_boot, recreate, create, delete).
  returned: success
  type: list
  elements: dict
  sample: [{"field": "memory_mib", "before": 2048, "after": 4096, "apply": "live"}]
pending_changes:
  description: Fields written to the VM's config that take effect at its next boot.
  returned: success
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.novacron.cloud.plugins.module_utils._api import (
    AgentClient,
    AgentError,
    connection_args,
    fail_from_error,
)
from ansible_collections.novacron.cloud.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.novacron.cloud.plugins.module_utils._resource import pick, spec_of
from ansible_collections.novacron.cloud.plugins.module_utils._specs import VM_OPTIONS

SPEC_FIELDS = list(VM_OPTIONS) + ['state']


class VmManager(object):
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.check_mode = module.check_mode
        self.diff = DifferenceTracker()
        self.result = dict(changed=False, vm={}, changes=[], pending_changes=[])

    def run(self):
        name = self.params['name']
        current = self.client.get_vm(name)
        if self.params['state'] == 'absent':
            self.absent(current)
        else:
            self.present(current)
        if self.module._diff:
            self.result['diff'] = self.diff.as_diff()
        self.module.exit_json(**self.result)

    def present(self, current):
        desired = spec_of(current, SPEC_FIELDS) if current else {}
        desired.update(pick(self.params, VM_OPTIONS))
        state = self.params['state']
        if state != 'present':
            desired['state'] = state
        answer = self.client.put_vm(desired, dry_run=self.check_mode, recreate=self.params['recreate'],
                                    force_stop=self.params['force_stop'])
        self._record(answer)

    def absent(self, current):
        if current is None:
            return
        answer = self.client.delete_vm(self.params['name'], dry_run=self.check_mode,
                                       keep_storage=self.params['keep_storage'],
                                       force_stop=self.params['force_stop'])
        self._record(answer)
        self.result['vm'] = {}

    def _record(self, answer):
        self.result['changed'] = bool(answer.get('changed'))
        self.result['changes'] = answer.get('changes') or []
        vm = answer.get('vm') or {}
        self.result['vm'] = vm
        self.result['pending_changes'] = (vm.get('status') or {}).get('pending_changes') or []
        for warning in answer.get('warnings') or []:
            self.module.warn(warning)
        self.diff.merge_agent_diff(answer.get('diff'))


def main():
    argument_spec = dict(
        state=dict(type='str', default='present', choices=['present', 'absent', 'running', 'stopped', 'paused']),
        recreate=dict(type='bool', default=False),
        force_stop=dict(type='bool', default=False),
        keep_storage=dict(type='bool', default=False),
    )
    argument_spec.update(VM_OPTIONS)
    argument_spec.update(connection_args())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    client = AgentClient.from_module(module)
    try:
        VmManager(module, client).run()
    except AgentError as exc:
        fail_from_error(module, exc, 'vm %s' % module.params['name'])


if __name__ == '__main__':
    main()
