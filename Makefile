# Two commands do all set-up on a fresh Debian 12 machine (as root):
#   make demo   converge a local demo cluster with ansible-playbook
#   make test   the whole test suite (what CI runs)
.PHONY: setup demo test lint clean

setup:
	bash scripts/setup.sh

demo: setup  ## DEMO_WITH=terraform converges the same cluster with terraform instead
	bash scripts/demo.sh

test:
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check .

clean:
	rm -rf .venv .pytest_cache .ruff_cache .hypothesis
