import sys

from pulumi_resource_novacron.main import main

sys.exit(main())
