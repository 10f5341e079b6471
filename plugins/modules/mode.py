#!/usr/bin/python
# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
module: mode
short_description: Set the DWCP data-plane mode, feature flags and rollout of a NovaCron agent
version_added: 0.1.0
description:
- O(mode=auto) returns the agent to automatic link detection; a mode name pins it.
- Only the options given are changed; the rest keep their current value.
author:
- NovaCron contributors (@novacron)
extends_documentation_fragment:
- novacron.cloud.specs.mode
- novacron.cloud.connection
- novacron.cloud.connection.attributes
'''

EXAMPLES = r'''
- name: Pin internet mode and roll v3 out to a quarter of the fleet
  novacron.cloud.mode:
    mode: internet
    v3_rollout_percentage: 25

- name: Back to automatic detection
  novacron.cloud.mode:
    mode: auto
'''

RETURN = r'''
status:
  description: The agent's mode status after the change (in check mode, the current one).
  returned: success
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.novacron.cloud.plugins.module_utils._api import (
    AgentClient,
    AgentError,
    connection_args,
    fail_from_error,
)
from ansible_collections.novacron.cloud.plugins.module_utils._diff import DifferenceTracker
from ansible_collections.novacron.cloud.plugins.module_utils._resource import pick
from ansible_collections.novacron.cloud.plugins.module_utils._specs import MODE_OPTIONS


def current_settings(status):
    """The writable view of GET /mode: forced mode name, or auto."""
    current = dict((k, status.get(k)) for k in MODE_OPTIONS if k != 'mode')
    current['mode'] = status.get('mode') if status.get('forced') else 'auto'
    return current


def main():
    argument_spec = dict(MODE_OPTIONS)
    argument_spec.update(connection_args())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    client = AgentClient.from_module(module)
    wanted = pick(module.params, MODE_OPTIONS)
    try:
        status = client.get_mode()
        current = current_settings(status)
        diff = DifferenceTracker()
        for key, value in sorted(wanted.items()):
            if current.get(key) != value:
                diff.add(key, current.get(key), value)
        changed = not diff.empty
        if changed and not module.check_mode:
            status = client.put_mode(dict((k, wanted[k]) for k in diff.names()))
    except AgentError as exc:
        fail_from_error(module, exc, 'mode')
    result = dict(changed=changed, status=status)
    if module._diff:
        result['diff'] = diff.as_diff()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
