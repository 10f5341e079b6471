"""Strings that can pass through libvirt's XML, the seed ISO and the store unchanged.

libvirt parses XML 1.0 (no NUL, no other C0 control but tab/LF/CR, no lone surrogate, no
U+FFFE/U+FFFF), the libvirt Python binding and PostgreSQL refuse NUL, and a lone surrogate
cannot even be encoded as UTF-8. A field that takes one of those would be refused late, by
libvirt or the store, after the agent had already made things; so every string of a resource
model is one of the types below and is refused up front, by the model, with the field's name.

`Line` is one line (names, paths, a kernel command line, label values): no control character at
all. `Text` is multi-line content (cloud-init documents): tab, newline and carriage return allowed.
Both also refuse C1 controls (U+0080-U+009F, DEL) and Unicode noncharacters, which no legitimate
value of these fields carries and which some tools along the way mangle.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

# C0 and C1 controls with DEL, lone surrogates, and the noncharacters (U+FDD0-U+FDEF, U+xFFFE/F).
_NONCHARACTERS = "\ufdd0-\ufdef\ufffe\uffff" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(1, 17)
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NONCHARACTER = re.compile(f"[{_NONCHARACTERS}]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` cannot pass through libvirt and the store, or None. Never quotes the value."""
    checks = (
        (_CONTROL_IN_TEXT if multiline else _CONTROL, "must not contain control characters"
         + (" other than tab, newline and carriage return" if multiline else "")),
        (_SURROGATE, "must not contain lone surrogates, which are not valid Unicode"),
        (_NONCHARACTER, "must not contain Unicode noncharacters"),
    )  # fmt: skip
    for pattern, message in checks:
        if m := pattern.search(value):
            return f"{message} (U+{ord(m.group()):04X} at offset {m.start()})"
    return None


def _line(value: Any) -> Any:
    if isinstance(value, str) and (problem := text_problem(value)):
        raise ValueError(problem)
    return value


def _text(value: Any) -> Any:
    if isinstance(value, str) and (problem := text_problem(value, multiline=True)):
        raise ValueError(problem)
    return value


# Before validators: the plain reason comes first, ahead of a pattern or length the value also breaks.
# Constraints of a type (not a field) go before the rule: Annotated[str, StringConstraints(..), LINE_RULE].
LINE_RULE = BeforeValidator(_line)
TEXT_RULE = BeforeValidator(_text)
Line = Annotated[str, LINE_RULE]
Text = Annotated[str, TEXT_RULE]
