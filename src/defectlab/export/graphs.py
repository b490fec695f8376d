"""Torch modules to graph files: ONNX through torch's exporter, OpenVINO IR converted from the ONNX graph."""

from __future__ import annotations

import contextlib
import inspect
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from defectlab.errors import ModelError

BATCH = "batch"


def write_onnx(module: nn.Module, example: torch.Tensor, file: Path, input_name: str, output_names: Sequence[str]) -> Path:
    """`module` as an ONNX graph at `file`, with a dynamic batch axis (the first) on its input."""
    batch = torch.export.Dim(BATCH, min=1, max=4096)
    argument = next(iter(_forward_arguments(module)))
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                str(file),
                input_names=[input_name],
                output_names=list(output_names),
                dynamic_shapes={argument: {0: batch}},
                dynamo=True,
                external_data=False,
            )
    except Exception as exc:  # the exporter raises many types; the first line names the failing operation
        raise ModelError(f"cannot export {type(module).__name__} to ONNX: {str(exc).splitlines()[0]}") from exc
    return file


def _forward_arguments(module: nn.Module) -> list[str]:
    return [name for name in inspect.signature(module.forward).parameters if name != "self"]


def write_openvino(
    onnx_file: Path,
    file: Path,
    compress_to_fp16: bool = False,
    calibration: Sequence[np.ndarray] | None = None,
) -> Path:
    """The ONNX graph at `onnx_file` as OpenVINO IR (`file` .xml plus its .bin): weights in float16
    with `compress_to_fp16`, or quantized to int8 by NNCF post-training quantization on `calibration`
    (input batches) with the matrix products of the scoring left in float (they compare distances)."""
    import openvino as ov

    model = ov.convert_model(str(onnx_file))
    if calibration is not None:
        model = _quantize(model, calibration)
    ov.save_model(model, str(file), compress_to_fp16=compress_to_fp16)
    return file


def _quantize(model: object, calibration: Sequence[np.ndarray]) -> object:
    try:
        import nncf
    except ImportError as exc:
        raise ModelError("int8 export needs NNCF: pip install nncf==3.4.0") from exc
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        nncf.set_log_level(40)
        return nncf.quantize(
            model,
            nncf.Dataset(list(calibration)),
            subset_size=sum(len(batch) for batch in calibration),
            ignored_scope=nncf.IgnoredScope(types=["MatMul"]),
        )
