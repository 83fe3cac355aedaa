"""A local transformers chat model: a vision-language model (image-text-to-text) that reads the
case's pictures, or a text-only causal LM. Loaded from a local folder (never downloading) or a hub
id, on CUDA (bf16/fp16) when present, else CPU float32; one case at a time, off the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mmsafe.errors import MissingDependency, UsageError
from mmsafe.schema import IMAGE_OUT_TASKS, Case, Message
from mmsafe.targets.base import Reply, TargetConfig, TargetError, TargetUnavailable
from mmsafe.targets.local import (device_label, free_gpu_memory, human, load_kwargs, loaded_params, pick_device, pil_image, quiet_hub, read_json, require,
                                  resolve_model, stored_params)

EXTRA = "hf"
OWN_PARAMS = {"max_tokens", "temperature", "seed"}  # read here; any other --param goes to generate()
# generate() arguments mmsafe sets itself: naming them again would fail every case at generate()
SET_HERE = {"max_new_tokens": "--max-tokens (or --param max_tokens)", "do_sample": "--temperature (above 0 samples)",
            "input_ids": "", "attention_mask": "", "pixel_values": ""}


class HFTarget:
    """A local transformers vision-language (or text) chat model; answers text."""

    max_concurrency = 1
    computes_here = True  # the model runs on this machine: judges wait for it (see evaluate._stages)

    def __init__(self, cfg: TargetConfig) -> None:
        require("the hf target", EXTRA, "torch", "transformers", "PIL")
        self.model, self._local = resolve_model(cfg.model, "hf")
        self._params: dict[str, Any] = {"max_tokens": 128, "temperature": 0.0, "seed": 0}
        self._params.update({k: v for k, v in cfg.params.items() if v is not None})
        for key, instead in SET_HERE.items():
            if key in self._params:
                raise UsageError(f"--param {key!r} is set by mmsafe itself" + (f"; use {instead}" if instead else ""))
        seed = self._params.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise UsageError(f"--param seed: expected an integer, got {seed!r}")
        self.retries_help = self._sampling()  # greedy decoding repeats itself
        self.note = self._describe()
        self.blobs: Any = None  # the run's BlobStore, set before start()
        self._net: Any = None
        self._proc: Any = None  # a processor (vision model) or a tokenizer (text-only model)
        self._vision = False

    def _sampling(self) -> bool:
        t = self._params.get("temperature")
        return isinstance(t, (int, float)) and t > 0

    def _load(self) -> None:
        quiet_hub()
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise MissingDependency("the hf target", EXTRA, exc.name or "transformers") from None
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        half = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float16
        self.device, dtype = pick_device(torch, half)
        kw = load_kwargs(self._local)
        weights = {**kw, "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype": dtype}
        try:
            try:
                net = transformers.AutoModelForImageTextToText.from_pretrained(self.model, **weights)
                vision = True
            except ValueError:  # not an image-text-to-text architecture: a text-only chat model
                net, vision = transformers.AutoModelForCausalLM.from_pretrained(self.model, **weights), False
            # the processor apart: its own failure (tokenizer files missing) is named as it is, not
            # mistaken for "not an image-text model"
            proc = (transformers.AutoProcessor if vision else transformers.AutoTokenizer).from_pretrained(self.model, **kw)
            self._vision = vision
        except Exception as exc:  # noqa: BLE001 - damaged weights (SafetensorError), missing files, a bad config
            raise TargetUnavailable(f"--model {self.model!r}: cannot load it with transformers: "
                                    f"{type(exc).__name__}: {str(exc)[:300]}") from None
        self._net, self._proc = net.to(self.device).eval(), proc
        self._check_params()
        if not self._local:  # a hub id: what it is is known now that it is loaded
            arch = (getattr(net.config, "architectures", None) or [type(net).__name__])[0]
            self.note = (f"transformers model {self.model} from the hub ({arch}, {human(loaded_params(net))} "
                         f"parameters) on {self.device}")

    def _describe(self) -> str:
        """What the model is, known before loading (stored with the run): name, architecture, size, device."""
        if not self._local:
            return f"transformers model {self.model} from the hub, on {device_label()}"
        folder = Path(self.model)
        arch = (read_json(folder / "config.json").get("architectures") or ["unknown architecture"])[0]
        return (f"local transformers model {folder.name} ({arch}, {human(stored_params(folder))} parameters) "
                f"on {device_label()}")

    def _check_params(self) -> None:
        config = self._net.generation_config
        unknown = sorted(k for k in self._params if k not in OWN_PARAMS and not hasattr(config, k))
        if unknown:
            raise UsageError(f"--param {unknown[0]!r} is not a transformers generation setting "
                             "(e.g. top_p, top_k, repetition_penalty; max_tokens, temperature, seed are read too)")

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    async def close(self) -> None:
        self._net = self._proc = None
        free_gpu_memory()

    def _chat(self, turns: tuple[Message, ...]) -> tuple[list[dict[str, Any]], list[Any]]:
        """The conversation in the chat-template format, and the pictures in the order they appear."""
        chat, images = [], []
        for m in turns:
            if not self._vision:
                if m.images:
                    raise TargetError(f"{Path(self.model).name} is a text-only model: it cannot read the case's images")
                chat.append({"role": m.role, "content": m.text})
                continue
            content: list[dict[str, Any]] = []
            for p in m.parts:
                if p.type == "image":
                    images.append(pil_image(self.blobs, p))
                    content.append({"type": "image"})
                elif p.text:
                    content.append({"type": "text", "text": p.text})
            chat.append({"role": m.role, "content": content})
        return chat, images

    def _generate(self, case: Case) -> Reply:
        import torch

        net, proc = self._net, self._proc  # held here: close() during a cancelled run only drops its references
        if net is None:
            raise TargetError("the hf target is not started")
        chat, images = self._chat(case.turns)
        try:
            prompt = proc.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # noqa: BLE001 - no template, or one that rejects this conversation
            raise TargetError(f"the model's chat template failed: {exc}") from None
        if self._vision:
            inputs = proc(text=prompt, images=images or None, return_tensors="pt")
        else:
            inputs = proc(prompt, return_tensors="pt", add_special_tokens=False)
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(net.dtype)
        p = self._params
        extra = {k: v for k, v in p.items() if k not in OWN_PARAMS}
        sampling = self._sampling()
        if sampling:
            extra["temperature"] = float(p["temperature"])
        torch.manual_seed(int(p.get("seed") or 0))
        with torch.inference_mode():
            out = net.generate(**inputs, max_new_tokens=int(p["max_tokens"]), do_sample=sampling, **extra)
        n_in = inputs["input_ids"].shape[1]
        new = out[0, n_in:]
        text = proc.decode(new, skip_special_tokens=True)
        return Reply.text(text, prompt_tokens=int(n_in), completion_tokens=int(new.shape[0]))

    async def generate(self, case: Case) -> Reply:
        if case.task in IMAGE_OUT_TASKS:
            raise TargetError(f"hf answers text; use --target diffusers for image tasks ({case.task})")
        return await asyncio.to_thread(self._generate, case)
