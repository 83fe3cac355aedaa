"""What the local `hf` and `diffusers` targets share: the --model check, the optional extra's
packages, the device and dtype, and image bytes to and from the run's blob store."""

from __future__ import annotations

import importlib.util
import io
import os
from pathlib import Path
from typing import Any

from mmsafe.errors import MissingDependency, UsageError
from mmsafe.schema import Message, Part
from mmsafe.pixels import to_rgb
from mmsafe.targets.base import TargetError, TargetUnavailable


def installed(module: str) -> bool:
    """The module can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, a broken parent package
        return False


def require(what: str, extra: str, *modules: str) -> None:
    """Fail before anything runs when a package of the optional extra is missing."""
    for name in modules:
        if not installed(name):
            raise MissingDependency(what, extra, name)


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_model(model: str | None, target: str) -> tuple[str, bool]:
    """(the --model value, loaded from a local folder?). A value that is neither an existing folder
    nor a hub id (org/name) is a missing model, named at once."""
    if not model:
        raise UsageError(f"--model is required with --target {target}: a local model folder or a hub id (org/name)")
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path), True
    if path.exists():
        raise TargetUnavailable(f"--model {model!r}: not a model folder (give the folder that holds its config)")
    looks_like_hub = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    if not looks_like_hub:
        raise TargetUnavailable(f"--model {model!r}: no such folder (give a local model folder or a hub id org/name)")
    return model, False


def load_kwargs(local: bool) -> dict[str, Any]:
    """from_pretrained arguments: never reach the hub for a local folder or when HF_HUB_OFFLINE is set."""
    return {"local_files_only": True} if local or offline() else {}


def pick_device(torch: Any, half: Any) -> tuple[str, Any]:
    """CUDA with a half-precision dtype when present, else CPU float32."""
    if torch.cuda.is_available():
        return "cuda", half
    return "cpu", torch.float32


def quiet_hub() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")


def pil_image(blobs: Any, part: Part) -> Any:
    """The RGB picture an image part names, read from the run's blob store."""
    from PIL import Image

    if blobs is None or not part.image_sha256:
        raise TargetError("an image part has no stored bytes")
    try:
        with Image.open(io.BytesIO(blobs.get(part.image_sha256))) as img:
            return to_rgb(img)
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read image {part.image_sha256[:12]}: {exc}") from None


def png_bytes(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def latest_images(turns: tuple[Message, ...]) -> tuple[Part, ...]:
    """The images of the last message that carries any (the picture a next edit starts from)."""
    for m in reversed(turns):
        if m.images:
            return m.images
    return ()




def stored_params(folder: Path) -> int | None:
    """Parameters in a folder's .safetensors files, read from their headers (nothing is loaded)."""
    import json
    import struct

    total, files = 0, sorted(folder.glob("*.safetensors"))
    for f in files:
        try:
            with f.open("rb") as fh:
                (size,) = struct.unpack("<Q", fh.read(8))
                header = json.loads(fh.read(min(size, 100 << 20)))
        except (OSError, ValueError, struct.error):
            return None
        for name, t in header.items():
            if name != "__metadata__" and isinstance(t, dict):
                n = 1
                for d in t.get("shape", []):
                    n *= int(d)
                total += n
    return total or None


def read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def device_label() -> str:
    """Where a local model will run: 'cuda (NAME)' or 'cpu' (imports torch, checked present)."""
    import torch

    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"


def loaded_params(module: object) -> int | None:
    """Parameters of a loaded torch module (None when it is none)."""
    params = getattr(module, "parameters", None)
    return sum(p.numel() for p in params()) if callable(params) else None


def human(n: int | None) -> str:
    if n is None:
        return "unknown number of"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n:,}"


def free_gpu_memory() -> None:
    """Hand the GPU memory a closed model held back to the device (nothing to do on CPU)."""
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
