"""Deployment formats in ONNX Runtime: one model written as fp32, fp16, dynamic int8 and
static int8 (calibrated QDQ) files, timed in interleaved rounds, and run over a data set.

The converters and sessions are :mod:`pose_helpers.cost.deploy`'s (export with its output
check, fp16, dynamic int8, ``ort_session``) and :mod:`pose_helpers.cost.quantize`'s (static
int8); the rounds are :mod:`pose_helpers.cost.rounds`'. A format the runtime cannot build or run is a row marked
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
            deploy.ort_session(path, threads=1).get_inputs()  # a file it cannot load: unsupported
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
    from pose_helpers.cost.rounds import interleaved_rounds

    timings = interleaved_rounds(
        [
            lambda p=path: deploy.ort_latency(
                p, input_shape, threads=threads, warmup=warmup, repeats=repeats
            )
            for path in files.values()
        ],
        rounds,
    )
    return dict(zip(files, timings, strict=True))
