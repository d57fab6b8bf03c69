"""Input contracts: what a loaded artifact accepts, checked before any runtime sees the inputs.

Every runner (``OnnxRunner``, ``TFLiteRunner``, ``SavedModelRunner``, ``KerasRunner``) holds a
:class:`Contract` and checks the inputs against it in ``prepare`` (outside the timed region),
so a wrong name, dtype or shape fails with an :class:`~zoo.errors.InputContractError` that
lists the expected contract and what was received, instead of a runtime's own message (or a
silent truncation). The contract comes from the ``manifest.json`` next to the artifact when
that manifest lists it (:func:`resolve`), else from the runtime's declared input signature.

Dtype rule: the exact dtype, a cast NumPy calls ``safe`` (``uint8`` pixels for a ``float32``
input, ``int32`` for ``int64``), or a narrowing within the same kind (``float64`` to
``float32``; ``int64`` to ``int32`` when every value fits), which zoo's runners have always
accepted and callers rely on. Floats for an integer input, integers for a float input beyond
the safe casts, booleans for numbers and strings for numbers (or the reverse) are errors.
The batch axis is free (shared by all inputs); every other dimension must match.

Example:
    >>> contract = Contract({"x": InputSignature("x", (4,), "float32")}, source="example")
    >>> contract.check({"x": np.zeros((2, 4), np.float32)})["x"].shape
    (2, 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from zoo.exporters._atomic import MANIFEST

from zoo.errors import InputContractError

#: The dtype name a contract uses for text inputs (any NumPy string or object array).
STRING = "string"


@dataclass(frozen=True)
class InputSignature:
    """One input of a contract.

    Attributes:
        name: Input name.
        shape: Dimensions after the batch axis; ``None`` where any size is accepted. The
            whole shape is ``None`` when the runtime does not declare a rank.
        dtype: NumPy dtype name (``float32``, ``int32``…) or ``"string"``.
    """

    name: str
    shape: tuple[int | None, ...] | None
    dtype: str

    def describe(self) -> str:
        """``image: [batch, 32, 32, 3] float32``."""
        return f"{self.name}: [{self.dims()}] {self.dtype}"

    def dims(self) -> str:
        """``batch, 32, 32, 3`` (``?`` for a free dimension, ``...`` for any rank)."""
        if self.shape is None:
            return "batch, ..."
        return ", ".join(["batch", *("?" if d is None else str(d) for d in self.shape)])


@dataclass(frozen=True)
class Contract:
    """The inputs a loaded artifact accepts, and where that was read.

    Attributes:
        inputs: Input name → :class:`InputSignature`.
        source: Where the contract comes from, e.g. ``manifest.json`` or
            ``onnxruntime input signature``.
        where: What the contract belongs to (the artifact path), for messages.
    """

    inputs: dict[str, InputSignature]
    source: str
    where: str = "model"

    def describe(self) -> str:
        """One line per input, as in the error messages."""
        return "\n".join(f"    {sig.describe()}" for sig in self.inputs.values())

    def check(self, inputs: Any) -> dict[str, np.ndarray]:
        """See :func:`check_inputs`."""
        return check_inputs(self, inputs)


def check_inputs(contract: Contract, inputs: Any) -> dict[str, np.ndarray]:
    """Check named inputs against ``contract``; return them as arrays of the contract's dtypes.

    Args:
        contract: What the artifact accepts.
        inputs: Input name → array (anything ``np.asarray`` takes).

    Returns:
        Input name → array in the contract's order and dtype (string inputs unchanged).

    Raises:
        InputContractError: names missing or unexpected, a dtype that cannot be used, a
            wrong rank or dimension, or batch sizes that differ between inputs. The message
            lists the expected contract, what was received and every problem found.

    Example:
        >>> contract = Contract({"x": InputSignature("x", (4,), "float32")}, source="example")
        >>> check_inputs(contract, {"x": np.zeros((2, 3))})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        zoo.errors.InputContractError: model: the inputs do not match its contract ...
    """
    if not isinstance(inputs, dict):
        _fail(contract, {}, [f"received {type(inputs).__name__}; expected a dict name → array"])
    arrays = {str(k): _as_array(v) for k, v in inputs.items()}
    problems = []
    missing = [n for n in contract.inputs if n not in arrays]
    unexpected = sorted(n for n in arrays if n not in contract.inputs)
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    for name, sig in contract.inputs.items():
        if name in arrays:
            problems += _problems(sig, arrays[name])
    batches = {n: int(a.shape[0]) for n, a in arrays.items() if n in contract.inputs and a.ndim}
    if len(set(batches.values())) > 1:
        problems.append(f"different batch sizes {batches}; every input must share one")
    if problems:
        _fail(contract, arrays, problems)
    return {name: _cast(arrays[name], sig.dtype) for name, sig in contract.inputs.items()}


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy"):  # a TF / Keras tensor
        return np.asarray(value.numpy())
    return np.asarray(value)


def _problems(sig: InputSignature, array: np.ndarray) -> list[str]:
    out = []
    dtype_problem = _dtype_problem(array, sig.dtype)
    if dtype_problem:
        out.append(f"{sig.name}: {dtype_problem}")
    if sig.shape is None:
        return out
    if array.ndim != len(sig.shape) + 1:
        out.append(
            f"{sig.name}: rank {array.ndim} {list(array.shape)}, expected rank "
            f"{len(sig.shape) + 1} [{sig.dims()}]"
        )
        return out
    wrong = [
        f"axis {i + 1} is {got}, expected {want}"
        for i, (got, want) in enumerate(zip(array.shape[1:], sig.shape, strict=True))
        if want is not None and got != want
    ]
    if wrong:
        out.append(f"{sig.name}: shape {list(array.shape)}: " + "; ".join(wrong))
    return out


def _dtype_problem(array: np.ndarray, want: str) -> str | None:
    """Why ``array`` cannot be fed as ``want`` (``None`` if it can)."""
    got = array.dtype
    hint = f"; convert it with x.astype(np.{want})" if want != STRING else ""
    if want == STRING:
        return None if got.kind in "OUS" else f"dtype {got}, expected text (str or bytes)"
    if got.kind in "OUS":
        return f"dtype {got} (text), expected {want}{hint}"
    target = np.dtype(want)
    if got == target:
        return None
    if got.kind == "b" or target.kind == "b":  # NumPy calls bool → number safe; it is a bug
        return f"dtype {got}, expected {want}{hint}"
    if np.can_cast(got, target, "safe"):
        return None
    if target.kind == "f" and got.kind == "f":
        return None  # float64 → float32: same kind, accepted (see module docstring)
    if target.kind in "iu" and got.kind in "iu":
        info = np.iinfo(target)
        if array.size == 0 or (array.min() >= info.min and array.max() <= info.max):
            return None
        return (
            f"dtype {got} with values in [{array.min()}, {array.max()}], outside {want}'s "
            f"range [{info.min}, {info.max}]"
        )
    if target.kind in "iu":
        return f"dtype {got}, expected {want} (floats would be truncated){hint}"
    return f"dtype {got}, expected {want} (not a lossless cast){hint}"


def _cast(array: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == STRING or array.dtype == np.dtype(dtype):
        return array
    return array.astype(dtype)


def _fail(contract: Contract, arrays: dict[str, np.ndarray], problems: list[str]) -> None:
    received = (
        "\n".join(f"    {name}: {list(a.shape)} {a.dtype}" for name, a in arrays.items())
        or "    (nothing)"
    )
    listed = "\n".join(f"  - {p}" for p in problems)
    raise InputContractError(
        f"{contract.where}: the inputs do not match its contract ({contract.source}).\n"
        f"  {contract.where} expects:\n{contract.describe()}\n"
        f"  received:\n{received}\n"
        f"  problems:\n{listed}\n"
        "  Fix: pass a dict keyed by exactly the expected names, arrays of those dtypes and "
        "dimensions (the batch axis is free, shared by all inputs).",
        problems,
    )


def runtime_signature(name: str, dims: Any, dtype: str) -> InputSignature:
    """An :class:`InputSignature` from a runtime's full shape (batch axis first).

    Dimensions that are not positive integers (``-1``, ``None``, symbolic names) are free;
    ``dims=None`` (rank unknown) accepts any rank.
    """
    if dims is None:
        return InputSignature(name, None, dtype)
    rest = list(dims)[1:]
    shape = tuple(int(d) if isinstance(d, (int, np.integer)) and d > 0 else None for d in rest)
    return InputSignature(name, shape, dtype)


def dtype_name(dtype: Any) -> str:
    """A contract dtype name from a NumPy dtype (text kinds → ``"string"``)."""
    if str(dtype) == STRING:  # Keras and TensorFlow name text "string"
        return STRING
    dt = np.dtype(dtype)
    return STRING if dt.kind in "OUS" else dt.name


def manifest_contract(path: Path) -> Contract | None:
    """The contract in the ``manifest.json`` next to ``path``, if that manifest lists it.

    Returns ``None`` when there is no manifest, it cannot be read, or it lists no artifact
    at ``path`` (an artifact copied elsewhere, or an export still being staged).
    """
    from zoo.exporters.manifest import load_manifest

    path = Path(path)
    file = path.parent / MANIFEST
    if not file.is_file():
        return None
    try:
        manifest = load_manifest(file)
    except Exception:  # any unreadable manifest: fall back to the runtime's own signature
        return None
    if not any(Path(art.path).name == path.name for art in manifest.artifacts.values()):
        return None
    inputs = {
        name: InputSignature(name, tuple(spec.shape), spec.dtype)
        for name, spec in manifest.inputs.items()
    }
    return Contract(inputs, source=f"{file}", where=str(path))


def resolve(path: Path, declared: dict[str, InputSignature], runtime: str) -> Contract:
    """The manifest's contract for ``path`` if there is one, else the runtime's ``declared``.

    Args:
        path: The artifact.
        declared: The input signature the runtime reports for the loaded artifact.
        runtime: Its name, for the ``source`` of the contract.
    """
    found = manifest_contract(path)
    if found is not None and (not declared or set(found.inputs) == set(declared)):
        return found  # a manifest naming other inputs does not describe this artifact
    return Contract(declared, source=f"{runtime} input signature", where=str(path))
