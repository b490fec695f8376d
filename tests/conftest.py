"""Fixtures shared by all test folders."""

import hashlib
from pathlib import Path
from typing import Callable

import pytest


def _tree_digest(root: Path) -> str:
    """Hash of every PNG under `root`: relative path and bytes."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.png")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def tree_digest() -> Callable[[Path], str]:
    """Content hash of a written dataset, to compare two runs byte for byte."""
    return _tree_digest
