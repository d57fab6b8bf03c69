"""Versions of Python and of the libraries that shape an artifact or a training run.

Core (no layer above it needed): export manifests, benchmark environments and ``zoo fit``
run records all call :func:`library_versions`.

Example:
    >>> from zoo.versions import library_versions
    >>> sorted(library_versions())
    ['keras', 'numpy', 'python', 'tensorflow', 'zoo']
"""

from __future__ import annotations

import platform

#: Distributions recorded in every manifest: the ones that shape the artifacts.
DEFAULT_DISTS = ("zoo", "tensorflow", "keras", "numpy")


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
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for dist in dists:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions
