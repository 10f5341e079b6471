# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record differences between current and desired state for Ansible's diff and changed flags."""
from __future__ import annotations


class DifferenceTracker(object):
    """Collects (name, before, after) triples; renders Ansible's {'before', 'after'} diff."""

    def __init__(self):
        self._diffs = []

    def add(self, name, before, after):
        self._diffs.append((name, before, after))

    def merge_agent_diff(self, diff):
        """Adopt the agent's own before/after (it compares semantically, we don't second-guess)."""
        before = (diff or {}).get('before') or {}
        after = (diff or {}).get('after') or {}
        for key in sorted(set(before) | set(after)):
            self.add(key, before.get(key), after.get(key))

    @property
    def empty(self):
        return not self._diffs

    def names(self):
        return [name for name, dummy, dummy2 in self._diffs]

    def get_before_after(self):
        before = dict((name, b) for name, b, dummy in self._diffs)
        after = dict((name, a) for name, dummy, a in self._diffs)
        return before, after

    def as_diff(self, header=None):
        before, after = self.get_before_after()
        out = {'before': before, 'after': after}
        if header:
            out['before_header'] = header
            out['after_header'] = header
        return out
