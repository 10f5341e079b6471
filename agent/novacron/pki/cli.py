"""`novacron cert ca|node|request|sign|check|show`: the cluster's certificates from the command line.

Why a CLI: the Ansible role makes and renews certificates with these commands (the CA and the
signing on the controller, the key and request on the node), and so can an operator by hand.
Bad input exits 2 naming the argument, and writes nothing; `check` exits 1 when a renewal is due.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from novacron.pki.defaults import DEFAULT_CA_DAYS, DEFAULT_CA_NAME, DEFAULT_NODE_DAYS, DEFAULT_RENEW_DAYS
from novacron.pki.errors import PkiError

# Python parameter names (PkiError.argument) as the user typed them.
_FLAGS = {"node_id": "NODE_ID", "directory": "--out", "out": "--out", "hosts": "--host",
          "within_days": "--renew-within-days", "cert": "CERT"}


def register_cli(sub: Any) -> None:
    cert = sub.add_parser("cert", help="cluster CA and node certificates (make, sign, renew, inspect)")
    cmds = cert.add_subparsers(dest="sub", required=True)

    p = cmds.add_parser("ca", help="make the cluster CA: DIR/ca.crt (0644) and DIR/ca.key (0600)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for ca.crt and ca.key (created 0700)")
    p.add_argument("--days", type=int, default=DEFAULT_CA_DAYS, help="validity (default %(default)s)")
    p.add_argument("--name", default=DEFAULT_CA_NAME, help="subject CN (default %(default)r)")
    p.add_argument("--force", action="store_true", help="replace an existing CA (orphans its certificates)")
    p.set_defaults(func=_run, impl="ca")

    p = cmds.add_parser("node", help="a node key and certificate in one go: OUT/NODE_ID.key, OUT/NODE_ID.crt")
    p.add_argument("node_id", metavar="NODE_ID", help="the node's system.node_id (subject CN, DNS SAN)")
    p.add_argument("--ca", required=True, metavar="DIR", help="directory of the cluster CA (ca.crt, ca.key)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for NODE_ID.crt (full chain) and .key")
    _hosts(p)
    p.add_argument("--days", type=int, default=DEFAULT_NODE_DAYS, help="validity (default %(default)s)")
    p.add_argument("--force", action="store_true", help="replace existing NODE_ID.crt/.key")
    p.set_defaults(func=_run, impl="node")

    p = cmds.add_parser("request", help="a certificate request from a node key (the key is made if missing)")
    p.add_argument("node_id", metavar="NODE_ID")
    p.add_argument("--key", required=True, help="the node key; created (0600) if missing, kept if present")
    p.add_argument("--out", required=True, metavar="CSR", help="the request (PEM); - for standard output")
    _hosts(p)
    p.set_defaults(func=_run, impl="request")

    p = cmds.add_parser("sign", help="sign a node's request with the cluster CA (the names are checked)")
    p.add_argument("--ca", required=True, metavar="DIR", help="directory of the cluster CA (ca.crt, ca.key)")
    p.add_argument("--csr", required=True, metavar="FILE", help="the request (PEM); - for standard input")
    p.add_argument("--out", required=True, metavar="CRT", help="certificate + CA (full chain); - for standard output")
    p.add_argument("--days", type=int, default=DEFAULT_NODE_DAYS, help="validity (default %(default)s)")
    p.set_defaults(func=_run, impl="sign")

    p = cmds.add_parser("check", help="exit 0 if valid beyond the renewal window, 1 if due, 2 on error")
    p.add_argument("cert", metavar="CERT", help="certificate file (the first one of a chain is checked)")
    p.add_argument("--renew-within-days", dest="within_days", type=int, default=DEFAULT_RENEW_DAYS,
                   help="due when it expires within this many days (default %(default)s)")
    p.add_argument("--ca", metavar="DIR|FILE", help="also due when not issued by this CA (ca.crt or its directory)")
    p.set_defaults(func=_run, impl="check")

    p = cmds.add_parser("show", help="node id, names, issuer and validity of a certificate")
    p.add_argument("cert", metavar="CERT")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run, impl="show")


def _hosts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", dest="hosts", action="append", default=[], metavar="H",
                   help="extra name: DNS:name, IP:addr or bare (repeatable); DNS:NODE_ID is always in")


def _run(args: argparse.Namespace) -> int:
    from novacron.pki import commands

    try:
        return int(getattr(commands, f"cmd_{args.impl}")(args))
    except PkiError as exc:
        flag = _FLAGS.get(exc.argument, "--" + exc.argument.replace("_", "-"))
        print(f"novacron cert {args.sub}: {flag}: {exc.message}", file=sys.stderr)
    except OSError as exc:
        print(f"novacron cert {args.sub}: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
    return 2
