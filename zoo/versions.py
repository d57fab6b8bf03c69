"""Library versions: the ones recorded with artifacts and runs, and the oldest ones accepted.

Core (no layer above it needed): export manifests, benchmark environments and ``zoo fit``
run records all call :func:`library_versions`. ``import zoo`` calls
:func:`check_versions`, which refuses the releases listed in :data:`MINIMUM_VERSIONS`
(read from the installed distributions' metadata: nothing is imported).

Example:
    >>> from zoo.versions import library_versions
    >>> sorted(library_versions())
    ['keras', 'numpy', 'python', 'tensorflow', 'zoo']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from zoo.errors import UnsupportedVersionError

#: Distributions recorded in every manifest: the ones that shape the artifacts.
DEFAULT_DISTS = ("zoo", "tensorflow", "keras", "numpy")


@dataclass(frozen=True)
class Minimum:
    """The oldest release of a library zoo accepts, and why older ones are refused.

    Attributes:
        version: Oldest accepted release, e.g. ``"3.15.1"``.
        reason: Why older releases are refused (one phrase, shown in the error).
    """

    version: str
    reason: str


#: Known-bad releases, refused at ``import zoo``: distribution name → oldest accepted.
#: Both are hard dependencies (setup.cfg ``install_requires``), so they are checked at
#: import; a missing one is left to the code that needs it.
MINIMUM_VERSIONS: dict[str, Minimum] = {
    "keras": Minimum("3.15.1", "earlier releases lack security fixes for loading model files"),
    "onnx": Minimum("1.21", "earlier releases lack security fixes for reading model files"),
}

_RELEASE = re.compile(r"\s*v?(\d+(?:\.\d+)*)(.*)", re.S)
_PRE = re.compile(r"[-_.]?(a|alpha|b|beta|c|rc|pre|preview|dev)\d*", re.I)


def parse_version(text: str) -> tuple[tuple[int, ...], bool] | None:
    """The release numbers of a version and whether it is a pre-release (PEP 440, simplified).

    Args:
        text: A version string as pip reports it.

    Returns:
        ``(release, prerelease)`` with trailing zeros dropped, or ``None`` if ``text`` does not
        start with a release number. A local label (``+cpu``) and a ``.postN`` suffix do not
        count as pre-releases; ``a``/``b``/``rc``/``dev`` do.

    Example:
        >>> parse_version("3.15.1rc2")
        ((3, 15, 1), True)
        >>> parse_version("1.21.0+cpu")
        ((1, 21), False)
    """
    match = _RELEASE.fullmatch(text)
    if match is None:
        return None
    release = [int(part) for part in match.group(1).split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    suffix = match.group(2).split("+", 1)[0]
    return tuple(release), bool(_PRE.match(suffix))


def is_older(installed: str, minimum: str) -> bool:
    """Whether ``installed`` is older than ``minimum`` (a pre-release of it is older).

    An unparseable ``installed`` version is not called older: nothing can be proven.

    Example:
        >>> is_older("3.15.0", "3.15.1"), is_older("3.15.1rc1", "3.15.1")
        (True, True)
        >>> is_older("1.21.0", "1.21")
        False
    """
    have, want = parse_version(installed), parse_version(minimum)
    if have is None or want is None:
        return False
    if have[0] != want[0]:
        return have[0] < want[0]
    return have[1] and not want[1]


def _installed(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def version_problems(
    minimums: dict[str, Minimum] | None = None,
    *,
    version_of: Callable[[str], str | None] = _installed,
) -> list[UnsupportedVersionError]:
    """One error per installed distribution older than its minimum (none raised).

    Args:
        minimums: Distribution → :class:`Minimum` (default :data:`MINIMUM_VERSIONS`).
        version_of: Installed version of a distribution, ``None`` if missing.

    Returns:
        The errors :func:`check_versions` would raise, in table order; empty if all pass.

    Example:
        >>> version_problems()
        []
    """
    problems = []
    for dist, minimum in (MINIMUM_VERSIONS if minimums is None else minimums).items():
        installed = version_of(dist)
        if installed is not None and is_older(installed, minimum.version):
            problems.append(
                UnsupportedVersionError(
                    f"{dist} {installed} is installed; zoo needs {dist}>={minimum.version} "
                    f"({minimum.reason}). Fix: pip install '{dist}>={minimum.version}'",
                    package=dist,
                    installed=installed,
                    minimum=minimum.version,
                )
            )
    return problems


def check_versions(minimums: dict[str, Minimum] | None = None) -> None:
    """Refuse known-bad library versions; called by ``import zoo``.

    Reads versions from distribution metadata (``importlib.metadata``), never by importing
    the libraries, so ``import zoo`` stays cheap.

    Args:
        minimums: Distribution → :class:`Minimum` (default :data:`MINIMUM_VERSIONS`).

    Raises:
        UnsupportedVersionError: a library is older than its minimum; the message names
            the package, the installed and the minimum versions and the ``pip`` fix (every
            offender is listed when there are several).

    Example:
        >>> check_versions()  # passes silently on a supported installation
    """
    problems = version_problems(minimums)
    if not problems:
        return
    first = problems[0]
    if len(problems) == 1:
        raise first
    lines = "\n  ".join(str(p) for p in problems)
    raise UnsupportedVersionError(
        f"unsupported library versions:\n  {lines}",
        package=first.package,
        installed=first.installed,
        minimum=first.minimum,
    )


def library_versions(dists: tuple[str, ...] = DEFAULT_DISTS) -> dict[str, str]:
    """Versions of Python and of ``dists`` (``"not installed"`` for a missing one).

    Args:
        dists: Distribution names as pip knows them (default: :data:`DEFAULT_DISTS`).

    Returns:
        ``{"python": "3.11.7", dist: version, ...}`` in that order.

    Example:
        >>> library_versions(("numpy", "no-such-dist"))
        {'python': '3...', 'numpy': '...', 'no-such-dist': 'not installed'}
    """
    import platform

    versions = {"python": platform.python_version()}
    for dist in dists:
        versions[dist] = _installed(dist) or "not installed"
    return versions
