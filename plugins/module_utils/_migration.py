# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for a migration to end, by the rule every NovaCron face waits by.

Modules run on the managed side without the novacron_sdk package, so this is the SDK's
`NovacronClient.wait_migration` once more, over `AgentClient` and plain dicts. What must not drift
(the phases taken as final, the poll interval, the error wording) is generated from the SDK into
`_specs.py`; tests/unit/ansible/test_migration_wait.py runs both against the same agent.
"""
from __future__ import annotations

import time

from ansible_collections.novacron.cloud.plugins.module_utils._specs import (
    MIGRATION_ENDED,
    MIGRATION_FINAL,
    MIGRATION_POLL_S,
    MIGRATION_TIMED_OUT,
)


class MigrationError(Exception):
    """A migration that ended other than completed, or was still running at the deadline
    (timed_out); migration is the last state seen."""

    def __init__(self, migration, timed_out=False):
        words = dict(migration)
        words['reason'] = migration.get('error') or 'no reason given'
        super(MigrationError, self).__init__((MIGRATION_TIMED_OUT if timed_out else MIGRATION_ENDED).format(**words))
        self.migration = migration
        self.timed_out = timed_out


def wait_migration(client, mig_id, deadline, on_progress=None, poll_s=MIGRATION_POLL_S, sleep=time.sleep):
    """Poll migration mig_id until it is final; the completed migration, else MigrationError.

    deadline is a time.monotonic() instant; on_progress sees every state polled (and may raise to
    stop waiting); the migration itself is left alone when the wait ends early.
    """
    while True:
        migration = client.get_migration(mig_id)
        if on_progress is not None:
            on_progress(migration)
        if migration['phase'] in MIGRATION_FINAL:
            if migration['phase'] == 'completed':
                return migration
            raise MigrationError(migration)
        left = deadline - time.monotonic()
        if left <= 0:
            raise MigrationError(migration, timed_out=True)
        sleep(min(poll_s, left))
