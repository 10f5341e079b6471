"""What a resource operation gets besides its properties: the cluster, a time budget, a voice."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import grpc

from novacron_sdk.client import ApiError
from pulumi_resource_novacron.cluster import Cluster
from pulumi_resource_novacron.deadline import Cancelled, Deadline, Expired
from pulumi_resource_novacron.errors import ProviderError
from pulumi_resource_novacron.logs import ENGINE


@dataclass
class OpContext:
    cluster: Cluster | None
    cancel: threading.Event
    urn: str = ""

    def require_cluster(self) -> Cluster:
        if self.cluster is None:
            raise ProviderError(grpc.StatusCode.FAILED_PRECONDITION, "the provider is not configured yet")
        return self.cluster

    def deadline(self, timeout_s: float) -> Deadline:
        return Deadline(timeout_s, self.cancel)

    def log(self, severity: str, message: str) -> None:
        ENGINE.log(severity, message, self.urn)


PARTIAL = (ApiError, ProviderError, Expired, Cancelled)
"""Failures after which the resource may exist half-done (answered with its partial state)."""

