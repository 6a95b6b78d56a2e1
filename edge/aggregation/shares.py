"""From a face's calibrated probabilities to its contribution to a window's shares (issue 21).

Two different questions are asked of one face:

- ``confidence`` asks *how likely is the top estimate to be the crowd's majority answer?* The
  classifier's temperature (scalar or per-face quality table) is fitted for exactly that, by
  negative log-likelihood against majority labels.
- ``expressions`` asks *what share of observers would name each expression?* A face on which
  the crowd split 5 neutral / 4 happy / 1 sad needs all three in its contribution, and a
  majority-calibrated output puts too little on the minority answers (measured: clean FER+
  windows, share error 0.155 L1 against the crowd's shares at factor 1).

So the shares use each face's probabilities at a softer temperature, ``T_face x factor``::

    share_k  ∝  p_k ** (1 / factor)      (p clipped at 1e-6, as the classifier clips)

which is exactly temperature scaling with ``factor`` times the face's own temperature, since
``p ∝ exp(log p_raw / T_face)``. ``factor`` is the manifest's ``share_temperature_factor``
(``_flip`` for the flip-TTA output), fitted by ``models/calibrate.py --shares`` to the crowd's
vote shares; 1.0 leaves the shares as the probabilities. One face's ranking never changes, and
``confidence``, ``dominant_counts`` and top-1 stay on the calibrated probabilities.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
#: Probabilities are clipped here before any log: the classifier's scaling, the quality
#: features' entropy and the share softening all use this one floor.
LOG_CLIP = 1e-6


def soften(probs: npt.ArrayLike, factor: float) -> FloatArray:
    """Rows of ``probs`` at ``factor`` times their temperature, each summing to 1."""
    p = np.asarray(probs, dtype=np.float64)
    if factor == 1.0:
        out: FloatArray = p / p.sum(axis=-1, keepdims=True)
        return out
    z = np.log(np.maximum(p, LOG_CLIP)) / factor
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out = e / e.sum(axis=-1, keepdims=True)
    return out
