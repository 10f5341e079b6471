# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    """Connection options every novacron.cloud module shares (set once with module_defaults)."""

    DOCUMENTATION = r'''
options:
  url:
    description:
    - Base URL of the NovaCron agent API, for example C(https://hv01.example:8080).
    - If not set, the environment variable E(NOVACRON_URL) is used.
    type: str
    required: false
  token:
    description:
    - Bearer token for the agent API (C(novacron token create)).
    - If not set, the environment variable E(NOVACRON_TOKEN) is used.
    type: str
    required: false
  ca_cert:
    description:
    - Path of a CA bundle used to verify the agent's TLS certificate.
    type: path
    required: false
  validate_certs:
    description:
    - Verify the agent's TLS certificate.
    type: bool
    default: true
  timeout:
    description:
    - Seconds to wait for each HTTP request.
    type: float
    default: 60
notes:
- "Connection options can be set once for all modules with
  C(module_defaults: {group/novacron.cloud.agent: {url: ..., token: ...}})."
- Requests are retried only on connection errors, never after the agent has answered.
'''

    ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
'''

    INFO_ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: This module only reads; it never changes anything.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: N/A
    details: This module never changes anything.
'''
