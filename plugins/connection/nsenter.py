# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
name: nsenter
short_description: Run tasks inside the namespaces of a process on the controller
version_added: 0.1.0
description:
- Runs commands with C(nsenter) in the mount, UTS, IPC, network and PID namespaces and the root
  directory of a target process on the controller, so a root file system started in its own
  namespaces (a container without a container engine, as the role's Molecule scenario builds
  with debootstrap and C(unshare)) is managed like a separate host.
- Files are copied by streaming them through C(dd) inside the target, so paths resolve exactly as
  the target sees them (its own symlinks, its own mounts).
- Needs root on the controller (C(nsenter) into another process's namespaces).
author:
- NovaCron contributors (@novacron)
extends_documentation_fragment:
- connection_pipelining
options:
  target:
    description:
    - The target process, as a PID, or the path of a file holding the PID (read at connect time).
    type: str
    default: inventory_hostname
    vars:
    - name: inventory_hostname
    - name: ansible_host
    - name: ansible_nsenter_target
  nsenter_exe:
    description: The C(nsenter) executable on the controller.
    type: str
    default: nsenter
    vars:
    - name: ansible_nsenter_exe
  namespaces:
    description: Which namespaces of the target to enter (C(nsenter) long option names).
    type: list
    elements: str
    default: [mount, uts, ipc, net, pid]
    vars:
    - name: ansible_nsenter_namespaces
notes:
- Commands run with a clean environment (C(PATH), C(HOME=/root), C(LANG=C.UTF-8)), not the
  controller's, as they would on a remote host.
'''

EXAMPLES = r'''
# inventory: a host whose ansible_host is the PID file of the target's init process
all:
  hosts:
    instance:
      ansible_connection: novacron.cloud.nsenter
      ansible_host: /tmp/target/target.pid
      ansible_python_interpreter: /usr/bin/python3
'''

import os
import shlex
import shutil
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

display = Display()

_ENV = {
    'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'HOME': '/root',
    'LANG': 'C.UTF-8',
}
_BUFSIZE = 65536


class Connection(ConnectionBase):
    """Local subprocesses that nsenter the target; no persistent connection to keep."""

    transport = 'novacron.cloud.nsenter'
    has_pipelining = True
    default_user = 'root'

    def __init__(self, *args, **kwargs):
        super(Connection, self).__init__(*args, **kwargs)
        self._pid = None

    def _connect(self):
        if self._connected:
            return self
        if os.geteuid() != 0:
            raise AnsibleConnectionFailure('the nsenter connection needs root on the controller')
        exe = shutil.which(self.get_option('nsenter_exe'))
        if not exe:
            raise AnsibleConnectionFailure('nsenter executable %r not found' % self.get_option('nsenter_exe'))
        self._nsenter = exe
        self._pid = self._resolve_pid(str(self.get_option('target')))
        display.vvv(u'ESTABLISH NSENTER CONNECTION TO PID {0}'.format(self._pid), host=self._play_context.remote_addr)
        self._connected = True
        return self

    @staticmethod
    def _resolve_pid(target):
        raw = target
        if not target.isdigit():
            try:
                with open(target) as fh:
                    raw = fh.read().strip()
            except OSError as exc:
                raise AnsibleConnectionFailure('cannot read target pid file %s: %s' % (target, to_native(exc)))
        if not raw.isdigit():
            raise AnsibleConnectionFailure('target %r is neither a pid nor a file holding one' % target)
        if not os.path.exists('/proc/%s/ns/mnt' % raw):
            raise AnsibleConnectionFailure('target process %s is not running' % raw)
        return int(raw)

    def _argv(self, cmd):
        ns = ['--%s' % name for name in self.get_option('namespaces')]
        return [self._nsenter, '--target', str(self._pid)] + ns + ['--root', '--wd=/', '--', '/bin/sh', '-c', cmd]

    def _run(self, cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, in_data=None):
        proc = subprocess.Popen(self._argv(cmd), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=dict(_ENV))
        out, err = proc.communicate(in_data)
        return proc.returncode, out or b'', err or b''

    def exec_command(self, cmd, in_data=None, sudoable=False):
        super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        display.vvv(u'EXEC {0}'.format(cmd), host=self._play_context.remote_addr)
        return self._run(cmd, in_data=in_data)

    def put_file(self, in_path, out_path):
        super(Connection, self).put_file(in_path, out_path)
        display.vvv(u'PUT {0} TO {1}'.format(in_path, out_path), host=self._play_context.remote_addr)
        if not os.path.exists(to_bytes(in_path, errors='surrogate_or_strict')):
            raise AnsibleFileNotFound('file or module does not exist: %s' % in_path)
        cmd = 'dd of=%s bs=%d status=none' % (shlex.quote(out_path), _BUFSIZE)
        with open(to_bytes(in_path, errors='surrogate_or_strict'), 'rb') as src:
            rc, _out, err = self._run(cmd, stdin=src)
        if rc != 0:
            raise AnsibleError('failed to transfer %s to %s: %s' % (in_path, out_path, to_native(err)))

    def fetch_file(self, in_path, out_path):
        super(Connection, self).fetch_file(in_path, out_path)
        display.vvv(u'FETCH {0} TO {1}'.format(in_path, out_path), host=self._play_context.remote_addr)
        cmd = 'dd if=%s bs=%d status=none' % (shlex.quote(in_path), _BUFSIZE)
        with open(to_bytes(out_path, errors='surrogate_or_strict'), 'wb') as dst:
            rc, _out, err = self._run(cmd, stdout=dst)
        if rc != 0:
            raise AnsibleError('failed to fetch %s to %s: %s' % (in_path, out_path, to_native(err)))

    def close(self):
        self._connected = False
