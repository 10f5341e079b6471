"""`python -m novacron.cli`: the `novacron` command without its console script."""

import sys

from novacron.cli import main

sys.exit(main())
