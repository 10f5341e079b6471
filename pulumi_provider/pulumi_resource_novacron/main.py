"""Entry point `pulumi-resource-novacron`, started by the engine like every resource plugin.

The engine passes its own address as the first argument (plus flags such as `--logtostderr` or
`-v=9` that we accept and ignore), then reads one line from stdout: the port we serve on. So
stdout carries exactly that line and everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

import grpc
from pulumi.runtime.proto import provider_pb2_grpc

from pulumi_resource_novacron import __version__, logs
from pulumi_resource_novacron.server import NovacronProvider

MAX_MESSAGE = 400 * 1024 * 1024  # the engine's own limit for provider messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pulumi-resource-novacron", description=__doc__)
    parser.add_argument("engine", nargs="?", default="", help="address of the engine's gRPC server")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--logtostderr", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-v", dest="verbosity", default="0", help=argparse.SUPPRESS)
    args, _unknown = parser.parse_known_args(argv)
    if args.version:
        print(__version__)
        return 0
    logs.setup(verbose=str(args.verbosity).lstrip("=") not in ("", "0"))
    logs.ENGINE.connect(args.engine)
    options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)]
    server = grpc.server(ThreadPoolExecutor(max_workers=16, thread_name_prefix="rpc"), options=options)
    provider = NovacronProvider()
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(provider, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()

    def stop(signum: int, frame: FrameType | None) -> None:
        provider.cancel.set()
        server.stop(grace=2)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
