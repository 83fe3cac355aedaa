"""A small CNN on neighbouring-pixel residuals, trained from scratch with torch.

The network never sees the picture itself, only what is left after subtracting from each pixel
the mean of its 3×3 neighbourhood (a fixed, not learned, high-pass filter): the fine texture
where up-sampling, denoising and compression leave their traces, with the scene content mostly
removed. Three 3×3 convolutions (16, 32, 32 channels; the last two with stride 2), global average
pooling and one linear unit give the logit of P(fake). Training: random crops of `patch` pixels
with horizontal flips, Adam, binary cross-entropy, `epochs` passes, seeded; scoring reads the whole
image (the network is fully convolutional)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmsafe.detect.base import Detector, weights_file
from mmsafe.detect.data import Prep
from mmsafe.errors import UsageError


def _net():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            k = torch.full((3, 1, 3, 3), -1.0 / 9)
            k[:, :, 1, 1] += 1.0
            self.register_buffer("highpass", k)
            self.body = nn.Sequential(
                nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 1))

        def forward(self, x):  # x: N×3×H×W in [0, 1]
            r = nn.functional.conv2d(nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), self.highpass, groups=3)
            return self.body(r * 10.0).squeeze(1)

    return Net()


def _tensor(x: np.ndarray):
    import torch

    return torch.from_numpy(x.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()


class ResidualCNN(Detector):
    kind = "cnn"
    requires = ("torch",)

    def __init__(self, prep: Prep, options: dict[str, Any]) -> None:
        super().__init__(prep, options)
        self.epochs = int(options.get("epochs", 30))
        self.patch = min(int(options.get("patch", 64)), prep.size)
        self.seed = int(options.get("seed", 0))
        self.net = _net()

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        import torch

        if len(set(y.tolist())) < 2:
            raise ValueError("training needs both real and fake images")
        g = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.net = _net()
        data, labels = _tensor(x), torch.from_numpy(y.astype(np.float32))
        opt = torch.optim.Adam(self.net.parameters(), lr=2e-3)
        # balance the classes: a family-heavy fake set must not teach "always fake"
        pos = float(labels.sum())
        weight = torch.tensor((len(labels) - pos) / max(pos, 1.0))
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=weight)
        n, s, p = len(data), data.shape[-1], self.patch
        self.net.train()
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=g)
            for start in range(0, n, 32):
                idx = order[start:start + 32]
                top, left = (int(v) for v in torch.randint(0, s - p + 1, (2,), generator=g))
                batch = data[idx, :, top:top + p, left:left + p]
                if bool(torch.rand(1, generator=g) < 0.5):
                    batch = batch.flip(-1)
                opt.zero_grad()
                loss = loss_fn(self.net(batch), labels[idx])
                loss.backward()
                opt.step()
        self.net.eval()

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        if not len(x):
            return np.zeros(0)
        out = []
        with torch.no_grad():
            for start in range(0, len(x), 64):
                out.append(torch.sigmoid(self.net(_tensor(x[start:start + 64]))).numpy())
        return np.concatenate(out).astype(np.float64)

    def params(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "patch": self.patch, "seed": self.seed,
                "parameters": sum(p.numel() for p in self.net.parameters())}

    def save_weights(self, folder: Path) -> None:
        import torch

        torch.save(self.net.state_dict(), folder / "weights.pt")

    @classmethod
    def load(cls, folder: Path, prep: Prep, params: dict[str, Any], options: dict[str, Any]) -> Detector:
        import torch

        det = cls(prep, {k: params[k] for k in ("epochs", "patch", "seed") if k in params})
        path = weights_file(folder, "weights.pt")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: never runs code
            det.net.load_state_dict(state)
        except Exception as exc:  # torch raises many kinds for a bad or foreign file
            raise UsageError(f"--model {folder}: weights.pt is not this detector's weights ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None
        det.net.eval()
        return det
