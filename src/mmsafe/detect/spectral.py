"""Spectral detector: Fourier and DCT statistics of the image, then logistic regression.

Generators leave traces in the frequency domain (up-sampling peaks, missing or excess high
frequencies); JPEG leaves its own in the 8×8 DCT. Features, from the grey image (float, 0–1):
- the azimuthally averaged log power spectrum (FFT of the mean-removed image, a Hann window
  against edge leakage), `bins` radial bins from DC to the corner;
- for each of the 64 coefficients of the 8×8 block DCT (blocks on the image's own grid), the log
  of the mean absolute value over blocks;
- the log variance of the neighbouring-pixel residual (pixel minus the mean of its 4 neighbours).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmsafe.detect import linear
from mmsafe.detect.base import Detector, load_npz
from mmsafe.detect.data import Prep
from mmsafe.errors import UsageError

EPS = 1e-10


def grey(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / 255.0


def radial_spectrum(g: np.ndarray, bins: int) -> np.ndarray:
    h, w = g.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fftshift(np.fft.fft2((g - g.mean()) * win))) ** 2
    yy, xx = np.indices((h, w))
    r = np.hypot(yy - h // 2, xx - w // 2)
    idx = np.minimum((r / r.max() * bins).astype(int), bins - 1)
    total = np.bincount(idx.ravel(), power.ravel(), bins)
    count = np.maximum(np.bincount(idx.ravel(), None, bins), 1)
    return np.log(total / count + EPS)


def block_dct(g: np.ndarray) -> np.ndarray:
    from scipy.fft import dctn

    h, w = (g.shape[0] // 8) * 8, (g.shape[1] // 8) * 8
    blocks = g[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3) * 255.0
    coef = dctn(blocks, axes=(2, 3), norm="ortho")
    return np.log(np.abs(coef).mean(axis=(0, 1)).ravel() + 1e-3)


def residual_var(g: np.ndarray) -> float:
    nb = (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]) / 4
    return float(np.log((g[1:-1, 1:-1] - nb).var() + EPS))


def features(x: np.ndarray, bins: int) -> np.ndarray:
    out = []
    for img in x:
        g = grey(img)
        out.append(np.concatenate([radial_spectrum(g, bins), block_dct(g), [residual_var(g)]]))
    return np.asarray(out)


class SpectralDetector(Detector):
    kind = "spectral"

    def __init__(self, prep: Prep, options: dict[str, Any]) -> None:
        super().__init__(prep, options)
        self.bins = int(options.get("bins", 32))
        self.c = float(options.get("c", 1.0))
        self.w: dict[str, np.ndarray] | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        self.w = linear.fit(features(x, self.bins), y, self.c, int(self.options.get("seed", 0)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        assert self.w is not None, "fit or load first"
        return linear.predict(self.w, features(x, self.bins)) if len(x) else np.zeros(0)

    def params(self) -> dict[str, Any]:
        return {"bins": self.bins, "c": self.c, "features": 65 + self.bins}

    def save_weights(self, folder: Path) -> None:
        assert self.w is not None
        linear.save(self.w, folder / "weights.npz")

    @classmethod
    def load(cls, folder: Path, prep: Prep, params: dict[str, Any], options: dict[str, Any]) -> Detector:
        try:
            det = cls(prep, {"bins": params.get("bins", 32), "c": params.get("c", 1.0)})
        except (TypeError, ValueError):
            raise UsageError(f"--model {folder}: detector.json: params 'bins' and 'c' must be numbers") from None
        det.w = load_npz(folder, linear.KEYS)
        if not 1 <= det.bins <= 4096 or det.w["coef"].shape != (65 + det.bins,):
            raise UsageError(f"--model {folder}: weights.npz does not fit {det.bins} spectral bins")
        return det
