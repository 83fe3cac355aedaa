"""Standardised logistic regression over feature vectors, kept as four plain arrays (mean,
scale, coef, intercept) so it saves to .npz and loads without pickle. Used by the spectral
detector and the CLIP linear probe."""

from __future__ import annotations

import numpy as np

KEYS = ("mean", "scale", "coef", "intercept")


def fit(features: np.ndarray, y: np.ndarray, c: float = 1.0, seed: int = 0) -> dict[str, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:
        raise ValueError("training needs both real and fake images")
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-12] = 1.0
    lr = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    lr.fit((features - mean) / scale, y)
    return {"mean": mean, "scale": scale, "coef": lr.coef_[0].astype(np.float64),
            "intercept": lr.intercept_.astype(np.float64)}


def predict(w: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
    if features.shape[1] != w["coef"].shape[0]:
        raise ValueError(f"{features.shape[1]} features, the model expects {w['coef'].shape[0]}")
    z = ((features - w["mean"]) / w["scale"]) @ w["coef"] + w["intercept"][0]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def save(w: dict[str, np.ndarray], path) -> None:
    np.savez(path, **{k: w[k] for k in KEYS})
