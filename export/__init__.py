"""Keras model → validated artifacts under ``OUT/NAME/`` with a manifest.

Each format is one module in ``zoo.exporters.formats`` (see :mod:`zoo.exporters._base`);
this package writes the requested formats into a staging folder, reloads each artifact in its own
runtime, compares it with Keras at batch sizes 1 and 3, and only then swaps the set
into place with ``manifest.json`` written last.

Example:
    >>> from zoo.exporters import export_model
    >>> result = export_model("cnn_lstm_fusion_tiny", Path("artifacts"))  # doctest: +SKIP
    >>> result.path  # doctest: +SKIP
    PosixPath('artifacts/cnn_lstm_fusion_tiny')
"""

from __future__ import annotations

from zoo.exporters._atomic import MANIFEST, OutputFolderError, OutputNotWritable, sha256_path
from zoo.exporters._base import Arrays, ExportFormat, Runner, run_once
from zoo.exporters._contract import Contract, InputSignature, check_inputs
from zoo.exporters._export import (
    FORMATS,
    ON_FAILURE,
    AllFormatsFailed,
    ExportResult,
    check_export,
    declared_formats,
    export_model,
    load_runner,
    parse_formats,
)
from zoo.exporters.manifest import Manifest, load_manifest
from zoo.exporters.validate import ValidationFailed, sample_inputs
from zoo.exporters.verify import ArtifactCheck, VerifyReport, verify
from zoo.exporters.versions import library_versions

__all__ = [
    "FORMATS",
    "MANIFEST",
    "ON_FAILURE",
    "AllFormatsFailed",
    "Arrays",
    "ArtifactCheck",
    "Contract",
    "ExportFormat",
    "ExportResult",
    "InputSignature",
    "Manifest",
    "OutputFolderError",
    "OutputNotWritable",
    "Runner",
    "ValidationFailed",
    "VerifyReport",
    "check_export",
    "check_inputs",
    "declared_formats",
    "export_model",
    "library_versions",
    "load_manifest",
    "load_runner",
    "parse_formats",
    "run_once",
    "sample_inputs",
    "sha256_path",
    "verify",
]
