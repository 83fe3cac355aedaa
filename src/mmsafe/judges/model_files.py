"""The offline judges' trained models and measured quality as files.

A model file is plain numpy arrays in one compressed .npz, read with pickling off: loading one runs
no code, and it does not depend on the scikit-learn version that trained it. Every name carries
the code's version and a digest of the labelled files the model learned from, so a file from other
data or other code is never picked up.

Where a file is looked for (`find`), in order:
1. shipped with mmsafe (judges/data/models/), written by `scripts/build_judge_models.py` from the
   train split of the shipped labelled set, and its quality measured on the held-out split: a first
   run trains and measures nothing (a test retrains and compares);
2. the user's cache (MMSAFE_CACHE, else ~/.cache/mmsafe), where a model trained here is kept.
Else the caller trains or measures, and `keep`s the result in the cache. MMSAFE_SHIPPED_MODELS=0 skips the
shipped files (the build script sets it, so it always trains afresh)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SHIPPED_DIR = Path(__file__).parent / "data" / "models"
FORMAT = 1  # bump when the arrays' layout changes


def cache_root() -> Path:
    return Path(os.environ.get("MMSAFE_CACHE") or Path.home() / ".cache" / "mmsafe")


def cache_dir() -> Path:
    """The cache folder, made if missing (for writing; `find` only looks)."""
    path = cache_root()
    path.mkdir(parents=True, exist_ok=True)
    return path


def shipped_used() -> bool:
    return os.environ.get("MMSAFE_SHIPPED_MODELS", "1").strip().lower() not in ("0", "false", "no", "off")


def find(name: str) -> Path | None:
    """The file called `name`: shipped, else cached, else None (nothing is created: a read-only
    home runs on the shipped files)."""
    for folder in ((SHIPPED_DIR,) if shipped_used() else ()) + (cache_root(),):
        path = folder / name
        if path.is_file():
            return path
    return None


def stored(name: str, build: Callable[[dict[str, Any]], T]) -> T | None:
    """`build` of the arrays in the file called `name` (shipped, else cached); None when there is
    none, or it is damaged, of another layout or of the wrong shape (`build` raises): the caller
    trains afresh rather than fail."""
    path = find(name)
    if path is None:
        return None
    try:
        return build(load(path))
    except Exception:  # noqa: BLE001 - a damaged or foreign file is retrained, never fatal
        return None


def keep(name: str, arrays: dict[str, Any], older: str) -> Path | None:
    """Cache a model trained here, and drop the cached files whose names start with `older` (the
    same model for other data or code versions, and the pickles earlier releases cached). None
    when the cache cannot be written: the model is still used, and the next run trains it again."""
    try:
        path = cache_dir() / name
        save(path, arrays)
    except OSError:
        return None
    for old in [*path.parent.glob(f"{older}*.npz"), *path.parent.glob(f"{older}*.pkl")]:
        if old != path:
            old.unlink(missing_ok=True)
    return path


def save(path: Path, arrays: dict[str, Any]) -> None:
    """Write the arrays to `path` (.npz) atomically: a reader never sees half a file."""
    import numpy as np

    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        np.savez_compressed(fh, format=np.array([FORMAT]), **arrays)
    tmp.replace(path)


def load(path: Path) -> dict[str, Any]:
    """The arrays of a file `save` wrote. Raises ValueError for a file of another layout (or a
    damaged one, with numpy's or zipfile's error): callers retrain rather than fail."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable model file ({type(exc).__name__}: {exc})") from None
    if int(arrays.pop("format", [0])[0]) != FORMAT:
        raise ValueError(f"{path}: not a model file of layout {FORMAT}")
    return arrays


def strings_to_arrays(strings: list[str]) -> tuple[Any, Any]:
    """Strings as (code points, lengths): exact for any text (numpy's fixed-width strings would
    drop trailing NULs)."""
    import numpy as np

    joined = "".join(strings).encode("utf-32-le")
    return np.frombuffer(joined, dtype="<u4").copy(), np.array([len(s) for s in strings], dtype=np.int32)


def arrays_to_strings(chars: Any, lengths: Any) -> list[str]:
    import numpy as np

    text = np.asarray(chars, dtype="<u4").tobytes().decode("utf-32-le")
    ends = np.cumsum(lengths).tolist()
    if ends and ends[-1] != len(text):
        raise ValueError("string lengths do not add up to the characters stored")
    starts = [0, *ends[:-1]]
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]
