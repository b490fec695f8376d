"""`fit-router`'s categories: one dataset root's categories beside ELPV cell types."""

from __future__ import annotations

from pathlib import Path

import pytest

from defectlab.errors import ConfigError
from defectlab.workflows.detection import FitOptions
from defectlab.workflows.routed_fit import RouterRequest, Source, category_sources


def _request(**kwargs) -> RouterRequest:
    values = {
        "data": None,
        "fmt": "mvtec",
        "categories": (),
        "out": Path("/tmp/bundle"),
        "options": FitOptions(),
        "detectors": {},
    }
    return RouterRequest(**{**values, **kwargs})


def test_elpv_cell_types_join_the_named_categories() -> None:
    sources = category_sources(_request(data=Path("/data"), categories=("tiles", "bolts"), elpv=("mono", "poly")))
    assert sources == {
        "tiles": Source("mvtec", Path("/data"), "tiles"),
        "bolts": Source("mvtec", Path("/data"), "bolts"),
        "elpv-mono": Source("elpv", None, "mono"),
        "elpv-poly": Source("elpv", None, "poly"),
    }
    assert sources["elpv-mono"].to_dict() == {"format": "elpv", "root": None, "name": "mono"}


def test_elpv_alone_and_elpv_format_alone() -> None:
    assert list(category_sources(_request(elpv=("poly",)))) == ["elpv-poly"]
    assert category_sources(_request(fmt="elpv")) == {"mono": Source("elpv", None, "mono"), "poly": Source("elpv", None, "poly")}


def test_a_category_named_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="named twice"):
        category_sources(_request(data=Path("/data"), categories=("elpv-mono",), elpv=("mono",)))
