"""Export a fitted detector bundle's inference path as ONNX or OpenVINO graphs (``defectlab export``)."""
