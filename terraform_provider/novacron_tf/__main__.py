"""`python -m novacron_tf`: the provider executable (Terraform starts it), or `mirror DIR`."""

from __future__ import annotations

import sys

from novacron_tf.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
