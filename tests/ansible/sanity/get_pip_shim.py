"""Stand-in for pypa's get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs this file to put pip into each sanity virtualenv; we bootstrap the pip bundled
with CPython (ensurepip), then let it install the exact pip version ansible-test asked for from
the package index. ansible-test strips PIP_* variables from the environment, so the machine's CA
bundle (needed where the index sits behind a TLS proxy) is written into the venv's own pip.conf.
Arguments specific to get-pip.py are dropped.
"""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt",)

for bundle in CA_BUNDLES:
    if os.path.exists(bundle) and sys.prefix != sys.base_prefix:
        with open(os.path.join(sys.prefix, "pip.conf"), "w") as conf:
            conf.write("[global]\ncert = %s\n" % bundle)
        break
ensurepip.bootstrap(upgrade=True)
os.environ.pop("PIP_CONFIG_FILE", None)  # ensurepip sets it to /dev/null, hiding every pip.conf
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *args])
