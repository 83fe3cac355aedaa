"""Judges: one async protocol, looked up by name (`--judge NAME`, repeatable)."""

from mmsafe.judges.base import Item, Judge
from mmsafe.registry import Registry

judges: Registry[type] = Registry("judge")
judges.lazy("refusal", "mmsafe.judges.refusal:RefusalJudge", "fast offline judge: multilingual refusal rules + learned n-gram refusal and harm models")
judges.lazy("guard", "mmsafe.judges.guard:GuardJudge", "guard model (Llama Guard 3/4, Qwen3Guard, ShieldGemma), local or at --judge-base-url")
judges.lazy("jury", "mmsafe.judges.jury:JuryJudge", "several judges voting (--judge-param members=a,b --judge-param rule=majority|mean|any)")
judges.lazy("embedding", "mmsafe.judges.embedding:EmbeddingJudge", "all-MiniLM-L6-v2 response classifier trained on the project's labelled set, with refusal detection")
judges.lazy("llm", "mmsafe.judges.llm:LLMJudge", "LLM rubric judge at any OpenAI-compatible endpoint (--judge-model): safe / unsafe / controversial + refusal")
judges.lazy("unisafe", "mmsafe.judges.unisafe:UnisafeJudge", "UniSAFE rubric judge per task (TT…MT), vision models at --judge-base-url; --judge-model A,B averages several")
judges.lazy("nsfw", "mmsafe.judges.nsfw:NSFWJudge", "offline image judge: open_nsfw NSFW probability per image (toxicity); unsafe above --judge-param threshold=0.5")
judges.lazy("interim-measures", "mmsafe.judges.interim:InterimJudge", "vision judge (--judge-model) of generated images against China's Interim Measures taxonomy: level 0/1/2")
judges.lazy("llm-harm", "mmsafe.judges.llm:HarmJudge", "LLM judge (--judge-model) scoring harmfulness 0-1 (StrongREJECT-style); unsafe at --judge-param threshold=0.5")
judges.lazy("compliance", "mmsafe.judges.compliance:ComplianceJudge", "LLM judge (--judge-model) of replies to regulatory compliance questions against their criteria and should / should-not rules")
judges.lazy("salad", "mmsafe.judges.salad:SaladJudge", "SaLAD LLM judge (--judge-model): correct = warns about the reference hazard (unsafe) / neither refuses nor over-warns (safe)")
judges.lazy("salad-offline", "mmsafe.judges.salad_offline:SaladOfflineJudge", "offline SaLAD judge: refusal rules + all-MiniLM-L6-v2 similarity to the reference warning + hazard cue words")

__all__ = ["Item", "Judge", "judges"]
