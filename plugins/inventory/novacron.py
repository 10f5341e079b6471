# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
name: novacron
short_description: VMs of one or more NovaCron agents as Ansible hosts
version_added: 0.1.0
description:
- Lists the VMs of each configured agent, with their state, node, labels and IP addresses as host
  variables, grouped by node, state and label; C(keyed_groups), C(groups) and C(compose) work as
  with other constructed inventories.
- The inventory source is a YAML file whose name ends in C(novacron.yml) or C(novacron.yaml).
author:
- NovaCron contributors (@novacron)
extends_documentation_fragment:
- constructed
- inventory_cache
options:
  plugin:
    description: Marks this file as a source for this plugin.
    required: true
    choices: [novacron.cloud.novacron]
    type: str
  agents:
    description:
    - The agents to ask. Each is a URL string, or a dict with C(url) and optionally C(token),
      C(ca_cert), C(validate_certs).
    type: list
    elements: raw
    required: true
  token:
    description: Bearer token for agents that do not set their own.
    type: str
    env:
    - name: NOVACRON_TOKEN
  validate_certs:
    description: Verify the agents' TLS certificates.
    type: bool
    default: true
  ca_cert:
    description: CA bundle for the agents' TLS certificates.
    type: path
  timeout:
    description: Seconds to wait for each agent.
    type: float
    default: 30
  strict_agents:
    description: Fail when an agent cannot be reached; when false, skip it with a warning.
    type: bool
    default: true
  label_groups:
    description: Also put each VM into C(label_<key>_<value>) groups.
    type: bool
    default: true
'''

EXAMPLES = r'''
# inventory/novacron.yml
plugin: novacron.cloud.novacron
agents:
  - http://hv01:8080
  - url: https://hv02:8080
    ca_cert: /etc/novacron/ca.crt
keyed_groups:
  - key: novacron_labels.role | default('none')
    prefix: role
compose:
  ansible_host: novacron_ips[0] | default(omit)
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: /tmp/novacron-inventory
'''

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.novacron.cloud.plugins.module_utils._api import AgentClient, AgentError


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = 'novacron.cloud.novacron'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(('novacron.yml', 'novacron.yaml'))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        vms = None
        if use_cache:
            try:
                vms = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if vms is None:
            vms = self._fetch()
        if update_cache:
            self._cache[cache_key] = vms
        self._populate(vms)

    def _agents(self):
        out = []
        for entry in self.get_option('agents') or []:
            if isinstance(entry, str):
                entry = {'url': entry}
            if not isinstance(entry, dict) or not entry.get('url'):
                raise AnsibleError('novacron inventory: each agents entry needs a url, got %r' % (entry,))
            out.append(entry)
        return out

    def _fetch(self):
        vms = []
        for agent in self._agents():
            client = AgentClient(agent['url'], agent.get('token') or self.get_option('token'),
                                 agent.get('ca_cert') or self.get_option('ca_cert'),
                                 agent.get('validate_certs', self.get_option('validate_certs')),
                                 self.get_option('timeout'), retries=1)
            try:
                for vm in client.list_vms():
                    vm['_agent_url'] = agent['url']
                    vms.append(vm)
            except AgentError as exc:
                if self.get_option('strict_agents'):
                    raise AnsibleError('novacron inventory: %s' % exc.message(agent['url']))
                self.display.warning('novacron inventory: skipping %s' % exc.message(agent['url']))
        return vms

    def _populate(self, vms):
        strict = self.get_option('strict')
        for vm in vms:
            status = vm.get('status') or {}
            name = vm['name']
            host = self.inventory.add_host(name)
            hostvars = {
                'novacron_state': status.get('actual_state'),
                'novacron_desired_state': vm.get('state'),
                'novacron_node': status.get('node'),
                'novacron_labels': vm.get('labels') or {},
                'novacron_ips': status.get('ip_addresses') or [],
                'novacron_uuid': status.get('uuid'),
                'novacron_vcpus': vm.get('vcpus'),
                'novacron_memory_mib': vm.get('memory_mib'),
                'novacron_agent_url': vm.get('_agent_url'),
            }
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
            groups = []
            if status.get('node'):
                groups.append('node_%s' % status['node'])
            if status.get('actual_state'):
                groups.append('state_%s' % status['actual_state'])
            if self.get_option('label_groups'):
                groups.extend('label_%s_%s' % (k, v) for k, v in sorted((vm.get('labels') or {}).items()))
            for group in groups:
                group = self._sanitize_group_name(group)
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
            self._set_composite_vars(self.get_option('compose'), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), hostvars, host, strict=strict)
