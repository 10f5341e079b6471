"""What differs between the VM libvirt has and the VM the user wants, and how each change applies.

Pure: both sides are plain dicts shaped like `VirtualMachineSpec.model_dump(mode="json")` (the
observed side from `hypervisor.parse.observed_spec`), so the comparison is of parsed values, never
XML text. How each field's change applies is not decided here but read from the model's field
metadata (`novacron_sdk.models.change_rules`), the same rules the Terraform and Pulumi providers
plan with; this module walks the two sides and asks `judge` about each difference:

  live / live_and_config  applied to the running guest now (and to its persistent config)
  next_boot               written to the persistent config, effective when the guest next boots
  recreate                cannot be changed in place: needs a new VM (refused unless recreate=true)
"""

from __future__ import annotations

from typing import Any

from novacron.hypervisor.domain_xml import cloud_init_hash
from novacron_sdk.models.change_rules import Host, Rule, fill_unset, item_rules, judge, rules_of
from novacron_sdk.models.vm import FieldChange, VirtualMachineSpec

RULES = rules_of(VirtualMachineSpec)
# Fields compared for `status.pending_changes` (the running guest vs its persistent config).
BOOT_TIME_FIELDS = ("vcpus", "memory_mib", "boot", "networks", "disks")
LiveLimits = Host  # what the running guest can take without a reboot


def normalize_desired(spec: VirtualMachineSpec, current: dict[str, Any] | None) -> dict[str, Any]:
    """The desired spec in observed form: unset values libvirt fills in are taken from `current`.

    A NIC without a MAC keeps the MAC libvirt generated; an overlay disk without `size_gib`
    keeps whatever size it has (the fields marked agent-filled); cloud-init is compared by digest.
    """
    d = spec.model_dump(mode="json")
    d["cloud_init"] = {"sha256": cloud_init_hash(spec.cloud_init)} if spec.cloud_init else None
    if current is None:
        return d
    for name, rule in RULES.items():
        if rule.kind == "list" and "." not in name:
            d[name] = fill_unset(RULES, name, current.get(name) or [], d[name])
    return d


def _keyed(name: str, rule: Rule, cur: list[dict[str, Any]], want: list[dict[str, Any]],
           limits: Host) -> list[FieldChange]:
    """A list matched by its item key: added and removed elements, then each kept one by field."""
    out: list[FieldChange] = []
    key, fields = rule.key or "", item_rules(RULES, name)
    cur_by_key = {d[key]: d for d in cur}
    want_keys = {d[key] for d in want}
    for i, item in enumerate(want):
        old = cur_by_key.get(item[key])
        if old is None:
            out.append(FieldChange(field=f"{name}.{i}", before=None, after=item, apply=rule.add))
            continue
        for field, field_rule in fields.items():
            apply = judge(field_rule, old.get(field), item.get(field), limits)
            if apply is not None:
                out.append(FieldChange(field=f"{name}.{i}.{field}", before=old.get(field),
                                       after=item.get(field), apply=apply))  # fmt: skip
    for j, old in enumerate(cur):
        if old[key] not in want_keys:
            out.append(FieldChange(field=f"{name}.{j}", before=old, after=None, apply=rule.remove))
    return out


def _positional(name: str, rule: Rule, cur: list[Any], want: list[Any], limits: Host) -> list[FieldChange]:
    """A list compared element by element, each as a whole."""
    out = []
    for i in range(max(len(cur), len(want))):
        old = cur[i] if i < len(cur) else None
        new = want[i] if i < len(want) else None
        apply = judge(rule, old, new, limits)
        if apply is not None:
            out.append(FieldChange(field=f"{name}.{i}", before=old, after=new, apply=apply))
    return out


def compute_changes(
    current: dict[str, Any], desired: dict[str, Any], limits: LiveLimits
) -> list[FieldChange]:
    """Field-by-field changes turning `current` into `desired` (both in observed form), in the
    model's field order."""
    changes: list[FieldChange] = []
    for name in VirtualMachineSpec.model_fields:
        rule = RULES[name]
        before, after = current.get(name), desired.get(name)
        if rule.key is not None:
            changes += _keyed(name, rule, before or [], after or [], limits)
        elif rule.kind == "list":
            changes += _positional(name, rule, before or [], after or [], limits)
        else:
            apply = judge(rule, before, after, limits)
            if apply is not None:
                changes.append(FieldChange(field=name, before=before, after=after, apply=apply))
    return changes


def create_changes(desired: dict[str, Any]) -> list[FieldChange]:
    """A new VM: every field is created."""
    return [
        FieldChange(field=k, before=None, after=v, apply="create") for k, v in desired.items() if k != "name"
    ]


def diff_doc(changes: list[FieldChange]) -> dict[str, dict[str, object]]:
    """The `diff` of a ConvergeResult: before/after of exactly the changed fields."""
    return {
        "before": {c.field: c.before for c in changes},
        "after": {c.field: c.after for c in changes},
    }


def pending_fields(
    config: dict[str, Any], live: dict[str, Any] | None, *, live_memory_ceiling_mib: int | None = None
) -> list[str]:
    """Fields whose persistent config differs from the running guest: they wait for a reboot.

    Memory is pending only when the configured size is beyond what the running guest's balloon
    can reach (`live_memory_ceiling_mib`): below it, a difference is the balloon still settling
    (a guest that just booted reports less), not a change waiting for a reboot.
    """
    if live is None:
        return []
    out = []
    for key in BOOT_TIME_FIELDS:
        a, b = config.get(key), live.get(key)
        ceiling = live_memory_ceiling_mib
        if key == "memory_mib" and ceiling is not None and a is not None and a <= ceiling:
            continue
        if key == "disks":  # live sizes come from the same volumes; compare what the guest sees
            a = [(d["name"], d["bus"]) for d in a or []]
            b = [(d["name"], d["bus"]) for d in b or []]
        if a != b:
            out.append(key)
    return out


def drift_fields(stored: VirtualMachineSpec, observed: dict[str, Any]) -> list[str]:
    """Top-level fields where libvirt no longer matches the spec the agent last applied."""
    changes = compute_changes(observed, normalize_desired(stored, observed), LiveLimits(running=False))
    return list(dict.fromkeys(c.field.split(".")[0] for c in changes))
