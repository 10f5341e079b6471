#!/usr/bin/python
# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: migration
short_description: Declare which node a VM runs on; migrate it live over DWCP when it runs elsewhere
version_added: 0.1.0
description:
- Finds where O(vm) runs now (asking the agent at O(url), which asks its peers), and if that is
  not O(node), asks the owning agent to migrate it live to O(node) over the DWCP data plane.
- Waits for the migration to finish (O(wait)), up to O(wait_timeout) seconds, and returns its
  transfer statistics. A failed migration leaves the VM running where it was, and fails the task
  with the agent's reason.
- In check mode, reports the migration it would do, with the predicted duration, and changes nothing.
author:
- NovaCron contributors (@novacron)
options:
  vm:
    description: Name of the VM.
    type: str
    required: true
  node:
    description: C(node_id) of the agent the VM must run on.
    type: str
    required: true
  wait:
    description: Wait until the migration has completed or failed.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait with O(wait=true) before failing (the migration goes on).
    type: int
    default: 900
extends_documentation_fragment:
- novacron.cloud.specs.migration
- novacron.cloud.connection
- novacron.cloud.connection.attributes
'''

EXAMPLES = r'''
- name: web-1 must run on hv02 (moves it live if it runs elsewhere)
  novacron.cloud.migration:
    vm: web-1
    node: hv02
    max_downtime_ms: 300
  register: moved

- name: How it went
  ansible.builtin.debug:
    msg: "{{ moved.migration.progress.bytes_on_wire }} bytes on the wire, ratio {{ moved.migration.progress.compression_ratio }}"
'''

RETURN = r'''
migration:
  description: The migration as the source agent reports it (phase, progress, downtime); empty when none was needed.
  returned: success
  type: dict
source:
  description: The node the VM ran on before.
  returned: success
  type: str
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.novacron.cloud.plugins.module_utils._api import (
    AgentClient,
    AgentError,
    connection_args,
    fail_from_error,
)
from ansible_collections.novacron.cloud.plugins.module_utils._migration import MigrationError, wait_migration
from ansible_collections.novacron.cloud.plugins.module_utils._resource import pick
from ansible_collections.novacron.cloud.plugins.module_utils._specs import MIGRATION_OPTIONS


def main():
    argument_spec = dict(
        vm=dict(type='str', required=True),
        node=dict(type='str', required=True),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=900),
    )
    argument_spec.update(MIGRATION_OPTIONS)
    argument_spec.update(connection_args())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    client = AgentClient.from_module(module)
    result = dict(changed=False, migration={}, source=None)
    try:
        local = client.get_vm(p['vm'])
        if local is not None:  # the agent we talk to owns it: no need to ask the cluster
            where = dict(node=(local.get('status') or {}).get('node'), api_url=client.url)
        else:
            where = client.locate_vm(p['vm'])
        result['source'] = where['node']
        if where['node'] != p['node']:
            owner = AgentClient(where['api_url'], p['token'], p['ca_cert'], p['validate_certs'], p['timeout'])
            request = dict(vm=p['vm'], destination=p['node'], options=pick(p, MIGRATION_OPTIONS))
            migration = owner.create_migration(request, dry_run=module.check_mode)
            result['changed'] = True
            result['migration'] = migration
            if p['wait'] and not module.check_mode:
                try:
                    result['migration'] = wait_migration(owner, migration['id'], time.monotonic() + p['wait_timeout'])
                except MigrationError as exc:
                    result['migration'] = exc.migration
                    goes_on = '; waited %ss, it goes on' % p['wait_timeout'] if exc.timed_out else ''
                    module.fail_json(msg='%s%s' % (exc, goes_on), **result)
            if module._diff:
                result['diff'] = dict(before=dict(node=where['node']), after=dict(node=p['node']))
    except AgentError as exc:
        fail_from_error(module, exc, 'migration of %s' % p['vm'], **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
