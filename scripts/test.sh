#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, services, lint, pytest (unit, integration with
# real libvirtd/QEMU/namespaces/PostgreSQL/OpenBao/ansible-playbook), collection sanity.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH=$PWD/.venv/bin:$PATH

echo "[test] starting PostgreSQL"
NOVACRON_TEST_PG_URL=$(bash .ci/postgres.sh | tail -n 1)
export NOVACRON_TEST_PG_URL

echo "[test] ruff"
ruff check .

echo "[test] pytest"
set +e
pytest tests "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "[test] pytest collected no tests" >&2; exit 1; fi
exit $rc
