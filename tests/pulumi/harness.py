"""Drive `pulumi-resource-novacron` the way the Pulumi engine does, over gRPC.

The Pulumi CLI cannot be installed here, so the tests play the engine: start the real plugin
executable with an engine address, read its port from stdout, and call the ResourceProvider
service with the SDK's own protocol stubs. Values are encoded with the SDK's markers (secrets,
unknowns), independently of the provider's codec. `FakeEngine` serves the engine's Log service so
tests see what the provider tells users.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc as sdk_rpc
from pulumi.runtime.proto import engine_pb2_grpc, errors_pb2, provider_pb2, provider_pb2_grpc, status_pb2

VENV_BIN = Path(sys.executable).parent
PLUGIN = VENV_BIN / "pulumi-resource-novacron"
VM = "novacron:index:VirtualMachine"
MODE = "novacron:index:DwcpMode"
SIG, SECRET, UNKNOWN = sdk_rpc._special_sig_key, sdk_rpc._special_secret_sig, sdk_rpc.UNKNOWN


def secret(v: Any) -> dict[str, Any]:
    return {SIG: SECRET, "value": v}


def is_secret(v: Any) -> bool:
    return isinstance(v, dict) and v.get(SIG) == SECRET


def struct(d: dict[str, Any] | None) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d or {})
    return s


def plain(s: struct_pb2.Struct) -> dict[str, Any]:
    """Struct -> dict, integral floats as ints, secret markers kept."""
    def fix(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    return fix(json_format.MessageToDict(s))


def unwrap(v: Any) -> Any:
    if is_secret(v):
        return unwrap(v["value"])
    if isinstance(v, dict):
        return {k: unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unwrap(x) for x in v]
    return v


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::novacron-test::{type_}::{name}"


class FakeEngine(engine_pb2_grpc.EngineServicer):
    """The engine's Log service: records every message a plugin sends."""

    def __init__(self) -> None:
        self.messages: list[tuple[int, str, str]] = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self, self._server)
        self.address = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        self._server.start()

    def Log(self, request: Any, context: Any) -> empty_pb2.Empty:
        self.messages.append((request.severity, request.message, request.urn))
        return empty_pb2.Empty()

    def text(self) -> str:
        return "\n".join(m for _, m, _ in self.messages)

    def stop(self) -> None:
        self._server.stop(None)


@dataclass
class RpcFailure:
    code: grpc.StatusCode
    message: str
    init_failed: provider_pb2.ErrorResourceInitFailed | None = None
    property_errors: dict[str, str] = field(default_factory=dict)


def failure(err: grpc.RpcError) -> RpcFailure:
    """The status of a failed call, with the structured details the engine would decode."""
    out = RpcFailure(err.code(), err.details() or "")
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            init = provider_pb2.ErrorResourceInitFailed()
            if detail.Unpack(init):
                out.init_failed = init
                continue
            props = errors_pb2.InputPropertiesError()
            if detail.Unpack(props):
                out.property_errors = {e.property_path: e.reason for e in props.errors}
    return out


class ProviderProcess:
    """The plugin executable, started as the engine starts it, and a typed client for its RPCs."""

    def __init__(self, engine_address: str = "127.0.0.1:1", env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([str(PLUGIN), engine_address], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            self.stop()
            raise RuntimeError("provider printed no port within 30s:\n" + "".join(self.stderr)) from None
        self.stdout_first_line = first
        self.port = int(first.strip())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def stop(self) -> int:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    # -- provider config ---------------------------------------------------------------------------
    def configure(self, endpoint: str, token: str, peers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        news: dict[str, Any] = {"endpoint": endpoint, "token": secret(token)}
        if peers:
            news["peers"] = [{**p, "token": secret(p["token"])} if "token" in p else p for p in peers]
        checked = self.stub.CheckConfig(provider_pb2.CheckRequest(
            urn=urn("pulumi:providers:novacron", "default"), news=struct(news)))
        assert not checked.failures, checked.failures
        self.stub.Configure(provider_pb2.ConfigureRequest(args=checked.inputs, acceptSecrets=True,
                                                          acceptResources=True))
        return plain(checked.inputs)

    # -- resources ---------------------------------------------------------------------------------
    def check(self, name: str, news: dict[str, Any], olds: dict[str, Any] | None = None, type_: str = VM
              ) -> provider_pb2.CheckResponse:
        return self.stub.Check(provider_pb2.CheckRequest(
            urn=urn(type_, name), name=name, type=type_, olds=struct(olds), news=struct(news),
            randomSeed=b"\x01\x02\x03\x04"))

    def checked(self, name: str, news: dict[str, Any], olds: dict[str, Any] | None = None, type_: str = VM
                ) -> dict[str, Any]:
        resp = self.check(name, news, olds, type_)
        assert not resp.failures, [(f.property, f.reason) for f in resp.failures]
        return plain(resp.inputs)

    def diff(self, name: str, id_: str, olds: dict[str, Any], news: dict[str, Any], type_: str = VM,
             ignore: list[str] | None = None) -> provider_pb2.DiffResponse:
        return self.stub.Diff(provider_pb2.DiffRequest(
            urn=urn(type_, name), name=name, type=type_, id=id_, olds=struct(olds), news=struct(news),
            ignoreChanges=ignore or []))

    def create(self, name: str, props: dict[str, Any], type_: str = VM, preview: bool = False,
               timeout: float = 0) -> tuple[str, dict[str, Any]]:
        resp = self.stub.Create(provider_pb2.CreateRequest(
            urn=urn(type_, name), name=name, type=type_, properties=struct(props), preview=preview,
            timeout=timeout))
        return resp.id, plain(resp.properties)

    def read(self, name: str, id_: str, props: dict[str, Any] | None = None,
             inputs: dict[str, Any] | None = None, type_: str = VM) -> provider_pb2.ReadResponse:
        return self.stub.Read(provider_pb2.ReadRequest(
            urn=urn(type_, name), name=name, type=type_, id=id_, properties=struct(props), inputs=struct(inputs)))

    def update(self, name: str, id_: str, olds: dict[str, Any], news: dict[str, Any], type_: str = VM,
               preview: bool = False, timeout: float = 0) -> dict[str, Any]:
        resp = self.stub.Update(provider_pb2.UpdateRequest(
            urn=urn(type_, name), name=name, type=type_, id=id_, olds=struct(olds), news=struct(news),
            preview=preview, timeout=timeout))
        return plain(resp.properties)

    def delete(self, name: str, id_: str, props: dict[str, Any], type_: str = VM) -> None:
        self.stub.Delete(provider_pb2.DeleteRequest(
            urn=urn(type_, name), name=name, type=type_, id=id_, properties=struct(props)))
