"""Static int8 quantization with calibration (QDQ), for ONNX Runtime on a CPU.

Dynamic quantization (:func:`pose_helpers.cost.deploy.quantize_int8`) measures each
activation's range at run time and runs ``ConvInteger``; on this CPU it made Simple
Baselines slower, not faster. Static quantization measures the ranges once, on calibration
images, and stores them in ``QuantizeLinear``/``DequantizeLinear`` pairs around each
quantized operator (the QDQ format), which ONNX Runtime fuses into int8 kernels. Weights are
int8 with one scale per output channel; activations uint8. Calibrate on images like the
deployment's inputs (SynthPose renders), never on the images that score the model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from pose_helpers.core.io import write_atomic

__all__ = ["quantize_static_int8"]


def quantize_static_int8(
    src: str | Path, dst: str | Path, calibration: Iterable[Any], *, per_channel: bool = True
) -> Path:
    """Write ``src`` statically quantized to int8 (QDQ) to ``dst`` (atomically).

    Args:
        src: an fp32 ONNX file (e.g. from :func:`deploy.export_onnx`).
        dst: the int8 file to write.
        calibration: input batches of the shape the file takes (NumPy arrays or tensors);
            their activation ranges (min-max) set the scales.
        per_channel: one weight scale per output channel (else one per tensor).

    Returns:
        ``dst`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: without calibration batches.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    batches = [
        np.asarray(b.detach().cpu().numpy() if hasattr(b, "detach") else b, dtype=np.float32)
        for b in calibration
    ]
    if not batches:
        raise ValueError("calibration needs at least one input batch")
    name = onnx.load(str(src), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.items, None)
            return None if batch is None else {name: batch}

    with tempfile.TemporaryDirectory() as folder:
        pre, out = Path(folder, "pre.onnx"), Path(folder, "int8.onnx")
        # shape inference and graph clean-up first, as ONNX Runtime advises for quantization
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        data = out.read_bytes()
    return write_atomic(dst, lambda f: f.write(data))
