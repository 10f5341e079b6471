# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the resource modules: clean params into API bodies, compute desired state."""
from __future__ import annotations


def strip_none(value):
    """Drop keys whose value is None, recursively (Ansible fills unset suboptions with None)."""
    if isinstance(value, dict):
        return dict((k, strip_none(v)) for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return [strip_none(v) for v in value]
    return value


def pick(params, names):
    """The subset of module params the user set, cleaned for the API."""
    return strip_none(dict((name, params.get(name)) for name in names if params.get(name) is not None))


def spec_of(vm, spec_fields):
    """The writable part of a VM as the API returned it (drop status and read-only data)."""
    return strip_none(dict((k, vm.get(k)) for k in spec_fields if k in vm))
