"""`novacron token create|revoke|revoked|inspect`: client tokens, from the key or through an agent.

`create` and `revoke --config` work on this host's agent files (its signing key, its store), with
the agent running or not; `revoke --url` and `create --url` go through an agent's API with an
admin token. A revocation is per agent (each keeps its own list): name every agent with --url.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from datetime import UTC, datetime
from typing import Any

from novacron.auth.scopes import SCOPES, parse_scopes


def register_cli(sub: Any) -> None:
    token = sub.add_parser("token", help="client tokens: create, revoke, list revoked, inspect")
    cmds = token.add_subparsers(dest="sub", required=True)
    create = cmds.add_parser("create", help="mint a bearer token (printed on stdout; its id on stderr)")
    create.add_argument("--config", "-c", default=os.environ.get("NOVACRON_CONFIG"), help="agent config (its key)")
    create.add_argument("--scope", action="append", default=None, metavar="SCOPE",
                        help=f"one of {', '.join(SCOPES)} (repeatable, or comma-separated; default read): "
                        "read lists and gets, operate also converges, migrates and sets the mode, admin also "
                        "manages tokens and reads the audit log")  # fmt: skip
    create.add_argument("--subject", default=f"{getpass.getuser()}@{socket.gethostname()}",
                        help="who the token is for, as the audit log shows it")  # fmt: skip
    create.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (default auth.token_ttl_s; "
                        "at most auth.max_token_ttl_s)")  # fmt: skip
    create.add_argument("--json", action="store_true", help="print the token with its id, scopes and expiry")
    create.set_defaults(func=_create)

    revoke = cmds.add_parser("revoke", help="refuse a token from now on, by its id")
    revoke.add_argument("token_id")
    revoke.add_argument("--reason", default="")
    where = revoke.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", "-c", help="write this host's agent store directly")
    where.add_argument("--url", action="append", help="an agent to tell (repeatable); needs --token (admin)")
    revoke.add_argument("--token", default=os.environ.get("NOVACRON_TOKEN"), help="admin token; env NOVACRON_TOKEN")
    revoke.add_argument("--ca-cert", default=None)
    revoke.set_defaults(func=_revoke)

    listing = cmds.add_parser("revoked", help="list revoked tokens of this host's agent")
    listing.add_argument("--config", "-c", default=os.environ.get("NOVACRON_CONFIG"))
    listing.set_defaults(func=_revoked)

    inspect = cmds.add_parser("inspect", help="show a token's id, subject, scopes and expiry (not verified)")
    inspect.add_argument("token")
    inspect.set_defaults(func=_inspect)


def _load(path: str | None) -> Any:
    from novacron.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise SystemExit(f"novacron: invalid config:\n{exc}") from None


def _fail(message: str) -> int:
    print(f"novacron token: {message}", file=sys.stderr)
    return 2


def _create(args: argparse.Namespace) -> int:
    from novacron.auth.issuing import TokenIssuer, describe
    from novacron.secrets import load_signing_key
    from novacron_sdk.errors import InvalidInput

    try:
        scopes = parse_scopes(args.scope or ["read"])
    except ValueError as exc:
        return _fail(f"--scope: {exc}")
    config = _load(args.config)
    issuer = TokenIssuer(load_signing_key(config, create=True), config.auth)
    try:
        token, claims = issuer.mint(args.subject, scopes, args.ttl)
    except InvalidInput as exc:
        return _fail(f"--{'ttl' if exc.field == 'ttl_s' else exc.field}: {exc.detail}")
    info = describe(claims)
    if args.json:
        print(json.dumps({"token": token, **info}, default=str))
        return 0
    print(token)
    print(f"token id {info['token_id']}  subject {info['subject']}  scopes {','.join(info['scopes'])}  "
          f"expires {info['expires_at'].isoformat()}", file=sys.stderr)  # fmt: skip
    return 0


def _revoke(args: argparse.Namespace) -> int:
    if args.config:
        from novacron.auth.issuing import TokenIssuer
        from novacron.auth.revocations import Revocations
        from novacron.secrets import load_signing_key
        from novacron.store import open_store

        config = _load(args.config)
        with open_store(config.store_url()) as store:
            issuer = TokenIssuer(load_signing_key(config), config.auth, Revocations(store))
            new = issuer.revoke(args.token_id, reason=args.reason, by=f"cli:{getpass.getuser()}")
        print(f"{args.token_id}: {'revoked' if new else 'was already revoked'} (the agent refuses it within a second)")
        return 0
    from novacron_sdk.client import ApiError, NovacronClient

    if not args.token:
        return _fail("--url needs an admin token (--token or NOVACRON_TOKEN)")
    failed = 0
    for url in args.url:
        with NovacronClient(url, args.token, ca_cert=args.ca_cert) as client:
            try:
                client.revoke_token(args.token_id, args.reason)
                print(f"{url}: {args.token_id} revoked")
            except ApiError as exc:
                print(f"{url}: {exc}", file=sys.stderr)
                failed += 1
    return 1 if failed else 0


def _revoked(args: argparse.Namespace) -> int:
    from novacron.store import open_store

    config = _load(args.config)
    with open_store(config.store_url()) as store:
        for r in store.list_revoked():
            print(f"{r.token_id}  revoked {r.revoked_at.isoformat()} by {r.revoked_by}  until {r.expires_at.isoformat()}"
                  f"  {r.reason}")  # fmt: skip
    return 0


def _inspect(args: argparse.Namespace) -> int:
    import jwt

    try:
        claims = jwt.decode(args.token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        return _fail(f"not a token: {exc}")
    exp = claims.get("exp")
    when = datetime.fromtimestamp(exp, UTC).isoformat() if isinstance(exp, int | float) else "?"
    print(f"token id {claims.get('jti')}  subject {claims.get('sub')}  scopes {claims.get('scope', '') or 'none'}  "
          f"expires {when}")  # fmt: skip
    return 0
