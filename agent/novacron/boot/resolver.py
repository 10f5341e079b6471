"""Turn declared components into ordered levels that may each start concurrently.

Levels go phase by phase; inside a phase a component sits one level below its deepest
same-phase dependency (dependencies on earlier phases are already satisfied by phase order).
Every graph mistake is refused here, before anything starts, with a message naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from novacron.boot.component import Component
from novacron.boot.phases import phase_name


class BootGraphError(ValueError):
    """The declared components cannot be ordered: duplicate name, unknown dependency, cycle,
    or a dependency on a later phase."""


def resolve(components: Sequence[Component]) -> list[list[Component]]:
    """Ordered levels; each holds components of one phase, in declaration order."""
    by_name: dict[str, Component] = {}
    for comp in components:
        if comp.name in by_name:
            raise BootGraphError(f"duplicate component name '{comp.name}'")
        by_name[comp.name] = comp

    for comp in components:
        for dep in comp.depends_on:
            if dep not in by_name:
                raise BootGraphError(f"component '{comp.name}' depends on unknown '{dep}'")

    order = _topological_order(components, by_name)

    for comp in components:
        for dep in comp.depends_on:
            other = by_name[dep]
            if other.phase > comp.phase:
                raise BootGraphError(
                    f"component '{comp.name}' (phase {comp.phase}, {phase_name(comp.phase)}) depends on "
                    f"'{dep}' of later phase {other.phase} ({phase_name(other.phase)})"
                )

    depth: dict[str, int] = {}
    for name in order:  # dependencies come before their dependents
        comp = by_name[name]
        same_phase = [depth[d] for d in comp.depends_on if by_name[d].phase == comp.phase]
        depth[name] = 1 + max(same_phase) if same_phase else 0

    keys = sorted({(c.phase, depth[c.name]) for c in components})
    return [[c for c in components if (c.phase, depth[c.name]) == key] for key in keys]


def _topological_order(components: Sequence[Component], by_name: dict[str, Component]) -> list[str]:
    """Post-order DFS (iterative, so long chains cannot hit the recursion limit).

    Raises BootGraphError naming the first cycle met, e.g. "dependency cycle: a -> b -> a".
    """
    done: set[str] = set()
    order: list[str] = []
    for root in components:
        if root.name in done:
            continue
        path: list[str] = [root.name]
        on_path: set[str] = {root.name}
        stack: list[Iterator[str]] = [iter(root.depends_on)]
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                order.append(finished)
                continue
            if dep in on_path:
                cycle = [*path[path.index(dep) :], dep]
                raise BootGraphError("dependency cycle: " + " -> ".join(cycle))
            if dep in done:
                continue
            path.append(dep)
            on_path.add(dep)
            stack.append(iter(by_name[dep].depends_on))
    return order
