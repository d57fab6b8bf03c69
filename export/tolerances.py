"""Parity tolerances: one table, keyed by format and optionally by family.

A format passes when, for every output, ``max |artifact - keras| <= atol``.
"""

from __future__ import annotations

#: format → max absolute error allowed against the Keras model.
TOLERANCES: dict[str, float] = {
    "keras": 1e-6,
    "saved_model": 1e-5,
}

#: (family, format) → tolerance, where a family needs its own.
FAMILY_TOLERANCES: dict[tuple[str, str], float] = {}


def tolerance(fmt: str, family: str | None = None) -> float:
    """The absolute tolerance for ``fmt`` (and ``family`` if it has its own entry)."""
    if family is not None and (family, fmt) in FAMILY_TOLERANCES:
        return FAMILY_TOLERANCES[(family, fmt)]
    return TOLERANCES[fmt]
