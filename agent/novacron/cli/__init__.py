"""`novacron` command line: run the agent, manage its config and tokens, talk to a running agent."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from novacron import __version__


def _cmd_agent_run(args: argparse.Namespace) -> int:
    from novacron.config import ConfigError, load_config
    from novacron.runtime.main import run

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"novacron-agent: invalid config:\n{exc}", file=sys.stderr)
        return 2
    return run(config)


def _cmd_config_generate(args: argparse.Namespace) -> int:
    from novacron.config import render_default_config

    sys.stdout.write(render_default_config())
    return 0


def _cmd_config_validate(args: argparse.Namespace) -> int:
    from novacron.config import ConfigError, load_config

    try:
        load_config(args.file, environ={} if args.no_env else None)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"{args.file}: valid")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from novacron_sdk.client import ApiError, NovacronClient

    with NovacronClient(args.url, ca_cert=args.ca_cert, timeout=args.timeout) as client:
        try:
            health = client.health()
        except ApiError as exc:
            print(f"{args.url}: {exc}", file=sys.stderr)
            return 3
    if args.json:
        print(health.model_dump_json(indent=2))
        return 0 if health.status == "healthy" else 1
    print(f"node {health.node_id}  version {health.version}  status {health.status.upper()}")
    phase = f"phase {health.phase} ({health.phase_name})" if health.phase else "not started"
    print(f"{phase}  boot {health.boot_time_s:.3f}s" if health.boot_time_s else phase)
    if health.mode:
        print(f"dwcp mode {health.mode}")
    for name, comp in sorted(health.components.items(), key=lambda kv: (kv[1].phase, kv[0])):
        took = f"{comp.duration_s * 1000:7.1f} ms" if comp.duration_s is not None else "          "
        err = f"  {comp.error}" if comp.error else ""
        print(f"  [{comp.phase}] {name:<14} {comp.state:<11} {took}{err}")
    return 0 if health.status == "healthy" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="novacron", description="NovaCron agent and tools")
    parser.add_argument("--version", action="version", version=f"novacron {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    agent = sub.add_parser("agent", help="run the on-node agent").add_subparsers(dest="sub", required=True)
    run = agent.add_parser("run", help="boot the agent and serve until SIGTERM")
    run.add_argument("--config", "-c", default=os.environ.get("NOVACRON_CONFIG"),
                     help="config file (default: embedded defaults; env NOVACRON_CONFIG)")
    run.set_defaults(func=_cmd_agent_run)

    config = sub.add_parser("config", help="generate or validate a config file").add_subparsers(
        dest="sub", required=True)
    gen = config.add_parser("generate", help="print a complete, commented default config")
    gen.set_defaults(func=_cmd_config_generate)
    val = config.add_parser("validate", help="check a config file; names each bad field")
    val.add_argument("file")
    val.add_argument("--no-env", action="store_true", help="ignore NOVACRON_* environment overrides")
    val.set_defaults(func=_cmd_config_validate)

    status = sub.add_parser("status", help="show a running agent's health")
    status.add_argument("--url", default=os.environ.get("NOVACRON_URL", "http://127.0.0.1:8080"))
    status.add_argument("--ca-cert", default=None)
    status.add_argument("--timeout", type=float, default=5.0)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_cmd_status)

    for register in _plugins():
        register(sub)
    return parser


def _plugins() -> list:
    """Sub-commands owned by other packages (tokens, PBA evaluation, migrations, certificates)."""
    from novacron.auth.cli import register_cli as token_cli

    out = [token_cli]
    try:
        from novacron.cli.pba import register_cli as pba_cli

        out.append(pba_cli)
    except ImportError:
        pass
    try:
        from novacron.migration.cli import register_cli as migrate_cli

        out.append(migrate_cli)
    except ImportError:
        pass
    try:
        from novacron.pki.cli import register_cli as cert_cli

        out.append(cert_cli)
    except ImportError:
        pass
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


def agent_main(argv: Sequence[str] | None = None) -> int:
    """`novacron-agent [--config FILE]`: the same as `novacron agent run`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["agent", "run", *argv])
