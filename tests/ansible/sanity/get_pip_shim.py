"""Stand-in for pypa's get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs this file to put pip into each sanity virtualenv; we bootstrap the pip bundled
with CPython (ensurepip), then let it install the exact pip version ansible-test asked for from
the package index. Arguments specific to get-pip.py are dropped.
"""

import ensurepip
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *args])
