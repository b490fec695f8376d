"""Fixtures shared by all test folders."""

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch


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


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module: on a shared 2-core machine torch's thread pool otherwise stalls badly."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
