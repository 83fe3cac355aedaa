"""Files of a Hugging Face dataset repository, fetched when the machine is online (needs
`huggingface_hub`, which `pip install 'mmsafe[unisafe]'` brings with `datasets`; HF_TOKEN from the
environment). Offline, or without the package, it is a clear message, never a traceback."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from mmsafe.errors import MissingDependency, UsageError


def hub_file(repo: str, patterns: tuple[str, ...]) -> Path:
    """The first file of dataset repo `repo` that matches one of `patterns`, downloaded (cached)."""
    try:
        from huggingface_hub import hf_hub_download, list_repo_files
    except ImportError:
        raise MissingDependency(f"loading {repo} from the hub", "unisafe", "huggingface_hub") from None
    try:
        files = list_repo_files(repo, repo_type="dataset")
        for pattern in patterns:
            name = pattern.split("/")[-1]
            hits = sorted(f for f in files if fnmatch.fnmatch(f, pattern) or fnmatch.fnmatch(f.split("/")[-1], name))
            if hits:
                return Path(hf_hub_download(repo, hits[0], repo_type="dataset"))
    except Exception as exc:  # offline, gated, not found: one clear line
        raise UsageError(f"cannot load {repo} from the Hugging Face hub ({type(exc).__name__}: {str(exc)[:200]}); "
                         "download it and give its folder with --data DIR") from None
    raise UsageError(f"{repo} on the hub has no file matching {', '.join(patterns)}; give a local copy with --data DIR")
