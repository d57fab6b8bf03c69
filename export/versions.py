"""Library versions for manifests: :func:`zoo.versions.library_versions`, re-exported.

Example:
    >>> from zoo.exporters.versions import library_versions
    >>> sorted(library_versions())
    ['keras', 'numpy', 'python', 'tensorflow', 'zoo']
"""

from __future__ import annotations

from zoo.versions import DEFAULT_DISTS, library_versions

__all__ = ["DEFAULT_DISTS", "library_versions"]
