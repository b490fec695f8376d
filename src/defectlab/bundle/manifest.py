"""The manifest every bundle kind shares: ``manifest.json`` with format version, kind, creation time
and library versions; each kind's payload module (:mod:`defectlab.bundle.io` for detectors,
:mod:`defectlab.bundle.classifier`, :mod:`defectlab.pipelines.routed`,
:mod:`defectlab.pipelines.openset_bundle`) adds its own fields and files.

There is one format version for every kind. A manifest of another version is refused with a
one-line :class:`~defectlab.errors.ModelError` naming the file: a newer one asks to upgrade
defectlab, an older (or missing) one to refit with a defectlab that writes this format.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from defectlab import __version__
from defectlab.errors import ModelError

FORMAT_VERSION = 1
FORMAT_SINCE = "0.1.0"
"""The first defectlab release that writes bundles of FORMAT_VERSION."""
MANIFEST = "manifest.json"

DETECTOR_KIND = "anomaly_detector"
CLASSIFIER_KIND = "classifier"
ROUTED_KIND = "routed"
OPENSET_KIND = "openset"
KIND_NAMES = {
    DETECTOR_KIND: "an anomaly-detector",
    CLASSIFIER_KIND: "a classifier",
    ROUTED_KIND: "a routed (multi-category)",
    OPENSET_KIND: "an open-set",
}
"""Each bundle kind with the article and words that name it in messages."""
KINDS = tuple(KIND_NAMES)


def library_versions() -> dict[str, str]:
    """Versions of the packages that shape a model."""
    names = ("torch", "timm", "faiss-cpu", "numpy", "safetensors")
    out = {"defectlab": __version__, "python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def new_manifest(kind: str, **payload: Any) -> dict[str, Any]:
    """A manifest of ``kind``: format version, kind and creation time, the kind's ``payload``, library versions."""
    if kind not in KIND_NAMES:
        raise ModelError(f"unknown bundle kind {kind!r}; known kinds: {', '.join(KINDS)}")
    return {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **payload,
        "versions": library_versions(),
    }


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of the bundle at ``path``, checked for the supported format version."""
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise ModelError(f"{path} is not a defectlab bundle: {MANIFEST} is missing")
    try:
        manifest = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{file} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ModelError(f"{file} is not a bundle manifest (expected a JSON object)")
    version = manifest.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise ModelError(
            f"{path} has bundle format version {version}; this defectlab ({__version__}) reads version "
            f"{FORMAT_VERSION}: upgrade defectlab"
        )
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{path} has bundle format version {version}, which this defectlab ({__version__}) no longer reads "
            f"(it reads version {FORMAT_VERSION}): refit with defectlab >= {FORMAT_SINCE}"
        )
    return manifest


def bundle_kind(path: str | Path) -> str:
    """The kind of bundle at ``path`` (one of KINDS), from its checked manifest."""
    kind = read_manifest(path).get("kind")
    if kind not in KIND_NAMES:
        raise ModelError(f"{Path(path) / MANIFEST} has unknown bundle kind {kind!r}; known kinds: {', '.join(KINDS)}")
    return kind
