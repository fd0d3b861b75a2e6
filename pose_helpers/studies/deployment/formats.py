"""Deployment formats in ONNX Runtime: one model written as fp32, fp16, dynamic int8 and
static int8 (calibrated QDQ) files, timed in interleaved rounds, and run over a data set.

The converters are :mod:`pose_helpers.cost.deploy`'s (export with its output check, fp16,
dynamic int8) and :mod:`pose_helpers.cost.quantize`'s (static int8); the timing loop is
:mod:`pose_helpers.cost.bench`'s. A format the runtime cannot build or run is a row marked
unsupported with the runtime's message, never a crash.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMATS",
    "format_files",
    "interleaved_ort",
    "ort_outputs",
    "ort_session",
    "work_folder",
]

#: The formats of the quantization table, in order.
FORMATS = ("fp32", "fp16", "int8_dynamic", "int8_static")


@contextlib.contextmanager
def work_folder(folder: str | Path | None = None) -> Iterator[Path]:
    """``folder`` (created), or a temporary folder removed afterwards."""
    if folder is not None:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="pose-helpers-deploy-") as tmp:
        yield Path(tmp)


def ort_session(path: str | Path, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session of ``path``: nodes in sequence, ``threads`` intra-op
    threads (as :func:`pose_helpers.cost.deploy.ort_latency` times them)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_outputs(session: Any, images: np.ndarray) -> np.ndarray:
    """The session's first output for a batch of float32 ``images`` (its own batch size:
    a file exported for batch 1 is called once per image)."""
    name = session.get_inputs()[0].name
    batch = session.get_inputs()[0].shape[0]
    images = np.asarray(images, dtype=np.float32)
    if isinstance(batch, int) and batch != len(images):
        if len(images) % batch:
            raise ValueError(f"{len(images)} images do not split into the file's batch of {batch}")
        return np.concatenate(
            [
                session.run(None, {name: images[i : i + batch]})[0]
                for i in range(0, len(images), batch)
            ]
        )
    return session.run(None, {name: images})[0]


def format_files(
    model: Any,
    folder: str | Path,
    input_shape: Sequence[int],
    calibration: Sequence[np.ndarray],
    *,
    formats: Sequence[str] = FORMATS,
    atol: float = 1e-4,
    rtol: float = 1e-3,
) -> dict[str, tuple[Path | None, str]]:
    """``model`` in each format under ``folder``: ``{format: (path or None, note)}``.

    fp32 is exported with :func:`deploy.export_onnx`, whose output check raises (before any
    timing) where ONNX Runtime differs from PyTorch beyond ``atol + rtol × |output|``; the
    other formats are derived from it, and a conversion the tools cannot do is
    ``(None, message)``. ``calibration``: input batches for static int8 (renders like the
    deployment's inputs, never the images that score the model).

    Raises:
        ValueError: for an unknown format, or a failed fp32 export check.
    """
    from pose_helpers.cost import deploy, quantize

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"formats {unknown}: expected some of {FORMATS}")
    folder = Path(folder)
    fp32 = deploy.export_onnx(model, folder / "fp32.onnx", input_shape, atol=atol, rtol=rtol)
    makers: dict[str, Callable[[], Path]] = {
        "fp32": lambda: fp32,
        "fp16": lambda: deploy.convert_fp16(fp32, folder / "fp16.onnx"),
        "int8_dynamic": lambda: deploy.quantize_int8(fp32, folder / "int8_dynamic.onnx"),
        "int8_static": lambda: quantize.quantize_static_int8(
            fp32, folder / "int8_static.onnx", calibration
        ),
    }
    out: dict[str, tuple[Path | None, str]] = {}
    for fmt in formats:
        try:
            path = makers[fmt]()
            ort_session(path).get_inputs()  # a file the runtime cannot load is unsupported
            out[fmt] = (path, "")
        except Exception as err:  # noqa: BLE001 - the runtime's message is the row's note
            out[fmt] = (None, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}")
    return out


def interleaved_ort(
    files: Mapping[str, Path],
    input_shape: Sequence[int],
    *,
    threads: int = 1,
    repeats: int = 10,
    rounds: int = 3,
    warmup: int = 3,
) -> dict[str, Any]:
    """Batch-1 latency of each ONNX file in ONNX Runtime (:class:`bench.Timing`, ms),
    measured in ``rounds`` rounds that go over every file in turn (a slow spell of the
    machine then hits every file alike); the result is :func:`bench.over_rounds` of the
    rounds, ``None`` for a file the runtime cannot run.

    Raises:
        ValueError: for ``rounds < 1`` or a bad timing setting.
    """
    from pose_helpers.cost import deploy
    from pose_helpers.cost.bench import over_rounds

    if rounds < 1:
        raise ValueError(f"rounds={rounds!r}; expected >= 1")
    measured: dict[str, list[Any]] = {name: [] for name in files}
    for _ in range(rounds):
        for name, path in files.items():
            measured[name].append(
                deploy.ort_latency(
                    path, input_shape, threads=threads, warmup=warmup, repeats=repeats
                )
            )
    return {name: over_rounds(timings) for name, timings in measured.items()}
