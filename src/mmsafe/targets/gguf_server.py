"""A GGUF model served in-process by llama.cpp's own server (the `xllamacpp` prebuilt wheel) on a
free port of 127.0.0.1, with N parallel slots and continuous batching, and asked through the
openai target's aiohttp fast path: nothing to compile at install time, and several replies
decoded at once (a 135M model on 2 cores makes ~1.7x the tokens per second with 8 slots than
with one). The server is stopped when the target closes, however the run ends (finished,
Ctrl-C, an error), and at interpreter exit as a last resort."""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmsafe.errors import UsageError
from mmsafe.targets.base import Reply, TargetConfig, TargetUnavailable
from mmsafe.targets.local import installed

DEFAULT_SLOTS = 8
CTX_PER_SLOT = 2048  # what each conversation may hold, as with llama-cpp-python's n_ctx=2048
HOST = "127.0.0.1"  # never any other interface: the server has no API key
# generation parameters llama.cpp's server reads from a chat request (its README); others are refused,
# since the server would silently ignore them
SERVER_PARAMS = frozenset({
    "max_tokens", "n_predict", "temperature", "top_k", "top_p", "min_p", "typical_p", "seed", "stop",
    "presence_penalty", "frequency_penalty", "repeat_penalty", "repeat_last_n", "penalty_last_n",
    "mirostat", "mirostat_tau", "mirostat_eta", "grammar", "json_schema", "response_format",
    "logit_bias", "logprobs", "top_logprobs", "n_probs", "min_keep", "dry_multiplier", "dry_base",
    "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers", "xtc_probability",
    "xtc_threshold", "top_n_sigma", "dynatemp_range", "dynatemp_exponent", "ignore_eos", "samplers",
    "n_keep", "tools", "tool_choice", "parallel_tool_calls", "chat_template_kwargs",
    "reasoning_format", "t_max_predict_ms", "id_slot", "cache_prompt", "return_tokens",
})


def llama_cpp_forced() -> bool:
    """MMSAFE_GGUF_BACKEND=llama-cpp: llama-cpp-python answers even where xllamacpp is installed."""
    return os.environ.get("MMSAFE_GGUF_BACKEND", "").strip().lower() in ("llama-cpp", "llama_cpp", "llama-cpp-python")


def available() -> bool:
    """True when the server backend can be used (xllamacpp installed and not switched off)."""
    return not llama_cpp_forced() and installed("xllamacpp")


def threads() -> int:
    return int(os.environ.get("MMSAFE_THREADS", 0)) or max(1, os.cpu_count() or 1)


def check_gguf(path: Path, flag: str = "--model") -> None:
    """A file that does not start with the GGUF magic is named before anything loads."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None
    if magic != b"GGUF":
        raise UsageError(f"{flag}: {path} is not a GGUF file (it does not start with the GGUF magic bytes)")


class EmbeddedServer:
    """llama.cpp's HTTP server inside this process. start() and stop() block (model load, the
    server's main loop joining): call them off the event loop."""

    live: set[EmbeddedServer] = set()  # running servers, stopped at exit if a caller never did
    _lock = threading.Lock()

    def __init__(self, path: Path, slots: int = DEFAULT_SLOTS, n_threads: int | None = None) -> None:
        self.path, self.slots, self.n_threads = path, slots, n_threads or threads()
        self._server: Any = None
        self._stopped = False  # stop() came first (a run cancelled while the model loads)
        self.address: str | None = None  # http://127.0.0.1:PORT once started

    def start(self) -> str:
        import xllamacpp as xlc

        p = xlc.CommonParams()
        p.model.path = str(self.path)
        p.hostnames = [HOST]
        p.port = 0  # a free port, chosen by the OS
        p.n_parallel = self.slots
        p.n_ctx = CTX_PER_SLOT * self.slots  # split evenly: every slot holds CTX_PER_SLOT tokens
        p.cpuparams.n_threads = self.n_threads
        p.cpuparams_batch.n_threads = self.n_threads
        p.sampling.seed = 0  # the request's seed wins; this is the default for requests without one
        p.verbosity = -1  # mmsafe draws its own progress; no server log on stderr
        p.ui = False
        p.endpoint_slots = False
        try:
            server = xlc.Server(p)
        except RuntimeError as exc:
            raise TargetUnavailable(f"--model {self.path}: llama.cpp could not load this GGUF file "
                                    f"(corrupt, truncated or an unsupported architecture): {exc}") from None
        address = str(server.listening_address).rstrip("/")
        if not address.startswith(f"http://{HOST}:"):  # never expected; refuse rather than expose a port
            del server
            raise TargetUnavailable(f"the embedded llama.cpp server listens on {address}, not on {HOST}")
        with self._lock:
            if not self._stopped:
                self._server, self.address = server, address
                EmbeddedServer.live.add(self)
                return address
        del server  # stopped while loading: nobody will ask it anything
        raise TargetUnavailable("the embedded llama.cpp server was stopped while it started")

    def stop(self) -> None:
        """Stop the server and free the model (the destructor joins its threads and closes the port)."""
        with self._lock:
            box = [self._server]
            self._server, self._stopped = None, True
            EmbeddedServer.live.discard(self)
        box.clear()  # the last reference: ~Server runs here, on this thread

    @property
    def running(self) -> bool:
        return self._server is not None


@atexit.register
def _stop_all() -> None:
    for s in list(EmbeddedServer.live):
        s.stop()


class ServedGGUF:
    """The gguf target's server backend: an EmbeddedServer asked through OpenAITarget."""

    def __init__(self, cfg: TargetConfig, model: str, path: Path) -> None:
        check_gguf(path)
        unknown = sorted(k for k in cfg.params if k not in SERVER_PARAMS)
        if unknown:
            raise UsageError(f"--param {unknown[0]!r} is not a llama.cpp generation parameter; "
                             f"accepted: {', '.join(sorted(SERVER_PARAMS))}")
        self.slots = cfg.slots or DEFAULT_SLOTS
        self.max_concurrency = self.slots  # one request per slot; more would only queue in the server
        self._cfg, self._model, self._path = cfg, model, path
        self.server = EmbeddedServer(path, self.slots)
        self._client: Any = None

    async def start(self) -> None:
        from mmsafe.targets.openai import OpenAITarget

        try:
            address = await asyncio.to_thread(self.server.start)
        except asyncio.CancelledError:
            # the loading thread runs on: mark the server stopped (nothing to join yet) and the
            # thread frees it itself when the load ends; the engine calls close() only after start()
            if self.server.running:
                await asyncio.shield(asyncio.to_thread(self.server.stop))
            else:
                self.server.stop()
            raise
        cfg = replace(self._cfg, model=self._model, base_url=f"{address}/v1", api_key_env=None,
                      concurrency=self.slots)
        client = OpenAITarget(cfg)
        client._headers.pop("Authorization", None)  # a key from the environment never goes to the local server
        await client.start()
        self._client = client

    async def generate(self, case: Any) -> Reply:
        return await self._client.generate(case)

    async def close(self) -> None:
        client, self._client = self._client, None
        try:
            if client is not None:
                await client.close()
        finally:
            # shielded: a cancelled run still stops the server (the thread runs to the end)
            await asyncio.shield(asyncio.to_thread(self.server.stop))
