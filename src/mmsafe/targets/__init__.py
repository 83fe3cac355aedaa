"""Targets: one async protocol, many backends, looked up by name."""

from mmsafe.registry import Registry
from mmsafe.targets.base import Reply, Target, TargetConfig, TargetError, TargetUnavailable

targets: Registry[type] = Registry("target")
targets.lazy("openai", "mmsafe.targets.openai:OpenAITarget", "any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, LM Studio, proxies)")
targets.lazy("gguf", "mmsafe.targets.gguf:GGUFTarget", "a local GGUF model served in-process by llama.cpp (xllamacpp); default: embedded SmolLM2-135M-Instruct")
targets.lazy("hf", "mmsafe.targets.hf:HFTarget", "a local transformers vision-language or chat model (pip install 'mmsafe[hf]')")
targets.lazy("diffusers", "mmsafe.targets.diffusers:DiffusersTarget", "a local diffusers text-to-image / image-to-image pipeline (pip install 'mmsafe[diffusers]')")
targets.lazy("replay", "mmsafe.targets.replay:ReplayTarget", "score outputs produced elsewhere (--predictions FILE.jsonl)")

__all__ = ["Reply", "Target", "TargetConfig", "TargetError", "TargetUnavailable", "targets"]
