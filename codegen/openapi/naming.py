"""Python names from wire names: classes (PascalCase), fields and functions (snake_case).

Names derive only from the document's own names and pointers, never from counters over the whole
document, so adding an unrelated schema renames nothing (G24). Collisions get a deterministic
numeric suffix within the one namespace where they collide.
"""

from __future__ import annotations

import keyword
import re

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Names used by the generated module itself; a field or class named like them is renamed.
RESERVED_FIELD_NAMES = frozenset(
    {
        "str", "int", "float", "bool", "bytes", "list", "dict", "object",
        "msgspec", "UNSET", "UnsetType", "Any", "Literal", "enum", "typing", "datetime", "uuid",
    }
)  # fmt: skip
RESERVED_CLASS_NAMES = frozenset(
    {"Any", "Literal", "UnsetType", "UNSET", "None", "True", "False", "TYPE_CHECKING", "TypeAlias"}
)


def words(name: str) -> list[str]:
    """Split a wire name into words: camelCase, PascalCase, snake_case, kebab-case, digits."""
    return _WORD.findall(name)


def pascal(name: str) -> str:
    """``pet_tags`` / ``petTags`` -> ``PetTags``; never empty, never a digit first."""
    out = "".join(w[:1].upper() + w[1:] for w in words(name))
    if not out:
        out = "Model"
    if out[0].isdigit():
        out = "Model" + out
    if out in RESERVED_CLASS_NAMES:
        out += "Model"
    return out


def snake(name: str) -> str:
    """``petType`` -> ``pet_type``; keywords get a trailing underscore; never a digit first."""
    out = "_".join(w.lower() for w in words(name))
    if not out:
        out = "field"
    if out[0].isdigit():
        out = "n" + out
    if keyword.iskeyword(out) or out in RESERVED_FIELD_NAMES:
        out += "_"
    return out


class NameRegistry:
    """Hands out unique names in one namespace: the first claimant keeps the plain name."""

    def __init__(self, taken: set[str] | None = None) -> None:
        self._taken: set[str] = set(taken or ())

    def __contains__(self, name: str) -> bool:
        return name in self._taken

    def claim(self, wanted: str) -> str:
        """``wanted`` if free, else ``wanted2``, ``wanted3``... (first free)."""
        name = wanted
        counter = 2
        while name in self._taken:
            name = f"{wanted}{counter}"
            counter += 1
        self._taken.add(name)
        return name
