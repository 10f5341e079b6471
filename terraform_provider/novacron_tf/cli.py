"""Command line of `terraform-provider-novacron`: no arguments serves Terraform; `mirror DIR` installs."""

from __future__ import annotations

import argparse
from pathlib import Path

from novacron_tf import __version__


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        from novacron_tf.server import serve

        return serve()
    parser = argparse.ArgumentParser(prog="terraform-provider-novacron",
                                     description="NovaCron Terraform provider. Terraform starts it with no "
                                                 "arguments; these subcommands help install it.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    mirror = sub.add_parser("mirror", help="write a filesystem mirror and print a CLI config for it")
    mirror.add_argument("directory", type=Path)
    mirror.add_argument("--cli-config", type=Path, help="also write the CLI config file here")
    args = parser.parse_args(argv)
    from novacron_tf.mirror import cli_config, write_mirror

    wrapper = write_mirror(args.directory)
    text = cli_config(args.directory)
    if args.cli_config:
        args.cli_config.write_text(text)
    print(f"# provider installed at {wrapper}\n# export TF_CLI_CONFIG_FILE=<file with this content>\n{text}",
          end="")
    return 0


def entry() -> None:
    raise SystemExit(main())
