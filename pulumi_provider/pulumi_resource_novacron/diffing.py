"""The provider's answer to Diff, independent of any resource: per-path kinds and replacements."""

from __future__ import annotations

from dataclasses import dataclass, field

from pulumi.runtime.proto import provider_pb2

Kind = provider_pb2.PropertyDiff.Kind
ADD, DELETE, UPDATE = provider_pb2.PropertyDiff.ADD, provider_pb2.PropertyDiff.DELETE, provider_pb2.PropertyDiff.UPDATE
_REPLACE = {ADD: provider_pb2.PropertyDiff.ADD_REPLACE, DELETE: provider_pb2.PropertyDiff.DELETE_REPLACE,
            UPDATE: provider_pb2.PropertyDiff.UPDATE_REPLACE}


def top(path: str) -> str:
    """The top-level property of a path (`disks[0].bus` -> `disks`)."""
    for i, ch in enumerate(path):
        if ch in ".[":
            return path[:i]
    return path


def _related(a: str, b: str) -> bool:
    """One path is the other or contains it (`disks[0]` and `disks[0].bus`)."""
    return a == b or a.startswith((b + ".", b + "[")) or b.startswith((a + ".", a + "["))


@dataclass
class DiffResult:
    detailed: dict[str, int] = field(default_factory=dict)
    replaces: set[str] = field(default_factory=set)
    delete_before_replace: bool = False

    def add(self, path: str, before: object, after: object, replace: bool = False) -> None:
        kind = ADD if before is None else DELETE if after is None else UPDATE
        self.detailed[path] = _REPLACE[kind] if replace else kind
        if replace:
            self.replaces.add(top(path))

    def set_replacements(self, paths: set[str]) -> None:
        """Make exactly the changes at, under or above `paths` replacements (the agent's verdict)."""
        def hit(path: str) -> bool:
            return any(_related(path, p) for p in paths)
        base = {v: k for k, v in _REPLACE.items()}
        for path, kind in list(self.detailed.items()):
            plain = base.get(kind, kind)
            self.detailed[path] = _REPLACE[plain] if hit(path) else plain
        for path in paths:
            if not any(_related(path, p) for p in self.detailed):
                self.detailed[path] = _REPLACE[UPDATE]
        self.replaces = {top(p) for p, k in self.detailed.items() if k in _REPLACE.values()}

    def ignore(self, prefixes: list[str]) -> None:
        for path in list(self.detailed):
            if any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes):
                del self.detailed[path]
        self.replaces = {top(p) for p, k in self.detailed.items() if k in _REPLACE.values()}

    def response(self) -> provider_pb2.DiffResponse:
        changed = sorted({top(p) for p in self.detailed})
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            replaces=sorted(self.replaces),
            diffs=changed,
            detailedDiff={p: provider_pb2.PropertyDiff(kind=k, inputDiff=False) for p, k in self.detailed.items()},
            hasDetailedDiff=True,
            deleteBeforeReplace=self.delete_before_replace and bool(self.replaces),
        )
