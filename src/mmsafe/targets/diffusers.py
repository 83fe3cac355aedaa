"""A local diffusers image generator: text-to-image (TI) and image-to-image edits (IE, IC, MT).

TI runs AutoPipelineForText2Image; edits run the image-to-image pipeline built from the same
components (`from_pipe`), or the loaded pipeline itself when its __call__ takes an `image`. MT
edits the latest picture in the conversation (the previous turn's output, else the input image),
or generates one when there is none. IC: a pipeline known to take several reference images
(MULTI_IMAGE, or `--param compose=list`) gets both as a list; any other gets them composed side
by side into one picture (`compose=side_by_side`). Seeded (`--param seed`, default 0): a run is
reproducible. TI with `--samples N` makes N images in one call (`num_images_per_prompt`; a
pipeline without it is called N times with seeds seed, seed+1, ...). A safety checker that flags
an image blanks it: the blanked image is not stored; every image flagged is a provider refusal, some
flagged leaves the others (the message says how many were flagged)."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

from mmsafe.errors import MissingDependency, UsageError
from mmsafe.schema import IMAGE_OUT_TASKS, Case, Part
from mmsafe.targets.base import Reply, TargetConfig, TargetError, TargetUnavailable, images_wanted
from mmsafe.targets.local import (device_label, free_gpu_memory, human, latest_images, loaded_params, load_kwargs, pick_device, pil_image, png_bytes,
                                  quiet_hub, read_json, require, resolve_model, stored_params)

EXTRA = "diffusers"
OWN_PARAMS = {"seed", "compose"}  # read here; any other --param goes to the pipeline call that accepts it
COMPOSE = ("side_by_side", "list")
# pipelines whose `image` takes several reference pictures (elsewhere a list is a batch of separate inputs)
MULTI_IMAGE = frozenset({"QwenImageEditPlusPipeline", "Flux2Pipeline", "Flux2KleinPipeline", "Flux2KleinKVPipeline"})
FLAGGED = "the pipeline's safety checker flagged the generated image (nsfw_content_detected)"


def accepted(pipe: Any) -> set[str]:
    return set(inspect.signature(pipe.__call__).parameters) - {"self", "kwargs"}


CANVAS_SIDE = 4096  # the composed picture's longest side: a pipeline resizes it to its own size anyway


def side_by_side(images: list[Any]) -> Any:
    """One picture: the inputs scaled to the first one's height and placed left to right, all of it
    scaled down to at most CANVAS_SIDE a side (a 1x600 and a 600x1 input would otherwise make a
    360,001x600 canvas)."""
    from PIL import Image

    h = min(images[0].height, CANVAS_SIDE)
    widths = [max(1, round(im.width * h / im.height)) for im in images]
    if sum(widths) > CANVAS_SIDE:
        f = CANVAS_SIDE / sum(widths)
        h, widths = max(1, round(h * f)), [max(1, round(w * f)) for w in widths]
    scaled = [im if im.size == (w, h) else im.resize((w, h)) for im, w in zip(images, widths, strict=True)]
    canvas = Image.new("RGB", (sum(im.width for im in scaled), h))
    x = 0
    for im in scaled:
        canvas.paste(im, (x, 0))
        x += im.width
    return canvas


class DiffusersTarget:
    """A local diffusers text-to-image / image-to-image pipeline; answers images."""

    max_concurrency = 1
    computes_here = True  # the model runs on this machine: judges wait for it (see evaluate._stages)
    retries_help = False  # seeded: asking again gives the same picture

    def __init__(self, cfg: TargetConfig) -> None:
        require("the diffusers target", EXTRA, "torch", "diffusers", "transformers", "PIL")
        self.model, self._local = resolve_model(cfg.image_model or cfg.model, "diffusers")
        self._params: dict[str, Any] = {"seed": 0}
        self._params.update({k: v for k, v in cfg.params.items() if v is not None})
        try:
            self._seed = int(self._params["seed"])
        except (TypeError, ValueError):
            raise UsageError(f"--param seed: expected an integer, got {self._params['seed']!r}") from None
        if "num_images_per_prompt" in self._params:
            raise UsageError("--param num_images_per_prompt: set the images per prompt with --samples N "
                             "(part of the run spec)")
        compose = self._params.get("compose")
        if compose is not None and compose not in COMPOSE:
            raise UsageError(f"--param compose: {compose!r} is not one of {'|'.join(COMPOSE)}")
        self.samples = cfg.samples  # images per text-to-image prompt (--samples)
        self.blobs: Any = None  # the run's BlobStore, set before start()
        self._t2i: Any = None
        self._edit: Any = None  # the pipeline that edits (takes `image`), None when there is none
        self._class = read_json(Path(self.model) / "model_index.json").get("_class_name", "") if self._local else ""
        # how IC's several inputs reach the pipeline (see MULTI_IMAGE)
        self._compose = compose or ("list" if self._class in MULTI_IMAGE else "side_by_side")
        self.note = self._describe()

    def _load(self) -> None:
        quiet_hub()
        try:
            import diffusers
            import torch
        except ImportError as exc:
            raise MissingDependency("the diffusers target", EXTRA, exc.name or "diffusers") from None
        diffusers.utils.logging.set_verbosity_error()
        diffusers.utils.logging.disable_progress_bar()
        self.device, dtype = pick_device(torch, torch.float16)
        kw = load_kwargs(self._local)
        # diffusers renamed torch_dtype to dtype (the old name warns in recent versions)
        renamed = hasattr(diffusers.utils.deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE")
        kw["dtype" if renamed else "torch_dtype"] = dtype
        try:
            try:
                pipe = diffusers.AutoPipelineForText2Image.from_pretrained(self.model, **kw)
            except ValueError:  # an edit-only pipeline has no text-to-image twin: load it as it is
                pipe = diffusers.DiffusionPipeline.from_pretrained(self.model, **kw)
        except (OSError, ValueError, KeyError, ImportError, TypeError, AttributeError) as exc:
            raise TargetUnavailable(f"--model {self.model!r}: cannot load it with diffusers: {exc}") from None
        pipe = pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        self._t2i = pipe
        if "image" in accepted(pipe):
            self._edit = pipe
        else:
            try:
                self._edit = diffusers.AutoPipelineForImage2Image.from_pipe(pipe)
                self._edit.set_progress_bar_config(disable=True)
            except (ValueError, KeyError, TypeError, AttributeError):
                self._edit = None  # text-to-image only: edit cases are errors
        self._check_params()
        if self._params.get("compose") is None and {type(pipe).__name__, type(self._edit).__name__} & MULTI_IMAGE:
            self._compose = "list"
        if not self._local:  # a hub id: what it is is known now that it is loaded
            denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
            ic = "as a list" if self._compose == "list" else "composed side by side into one image"
            self.note = (f"diffusers pipeline {self.model} from the hub ({type(pipe).__name__}, "
                         f"{human(loaded_params(denoiser))}-parameter denoiser) on {self.device}; IC inputs {ic}")

    def _describe(self) -> str:
        """What the pipeline is, known before loading (stored with the run): name, class, denoiser size,
        device, and how IC's two inputs reach it."""
        ic = "as a list" if self._compose == "list" else "composed side by side into one image"
        if not self._local:
            return f"diffusers pipeline {self.model} from the hub, on {device_label()}; IC inputs {ic}"
        folder = Path(self.model)
        denoiser = next((stored_params(folder / d) for d in ("unet", "transformer") if (folder / d).is_dir()), None)
        return (f"local diffusers pipeline {folder.name} ({self._class or 'unknown pipeline'}, {human(denoiser)}-parameter "
                f"denoiser) on {device_label()}; IC inputs {ic}")

    def _check_params(self) -> None:
        known = accepted(self._t2i) | (accepted(self._edit) if self._edit is not None else set())
        unknown = sorted(k for k in self._params if k not in OWN_PARAMS and k not in known)
        if unknown:
            common = [k for k in ("num_inference_steps", "guidance_scale", "height", "width", "strength") if k in known]
            raise UsageError(f"--param {unknown[0]!r} is not a parameter of this pipeline; "
                             f"e.g. {', '.join(common)}, seed, compose")

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    async def close(self) -> None:
        self._t2i = self._edit = None
        free_gpu_memory()

    def _inputs(self, case: Case) -> list[Any]:
        """The pictures this request edits: the latest ones in the conversation."""
        parts = latest_images(case.turns)
        if not parts and case.task in ("IE", "IC"):
            raise TargetError(f"an {case.task} case needs an input image; this one has none")
        return [pil_image(self.blobs, p) for p in parts]

    def _make(self, case: Case) -> tuple[list[bytes], int]:
        """(PNG bytes of each picture the safety checker let through, how many it flagged)."""
        import torch

        pipe, edit = self._t2i, self._edit  # held here: close() during a cancelled run only drops its references
        if pipe is None:
            raise TargetError("the diffusers target is not started")
        images = self._inputs(case)
        kw: dict[str, Any] = {"prompt": case.prompt}
        if images:
            if edit is None:
                raise TargetError(f"{Path(self.model).name} has no image-to-image pipeline: it cannot edit images")
            pipe = edit
            many = len(images) > 1 and self._compose == "list"
            kw["image"] = images if many else (side_by_side(images) if len(images) > 1 else images[0])
        allowed = accepted(pipe)
        kw.update({k: v for k, v in self._params.items() if k not in OWN_PARAMS and k in allowed})
        if "output_type" in allowed:
            kw["output_type"] = "pil"
        want = images_wanted(case, self.samples)
        batched = want > 1 and "num_images_per_prompt" in allowed
        if batched:
            kw["num_images_per_prompt"] = want
        pngs, flagged = [], 0
        for i in range(1 if batched else want):
            kw["generator"] = torch.Generator(device="cpu").manual_seed(self._seed + i)
            with torch.inference_mode():
                out = pipe(**kw)
            pics = list(getattr(out, "images", None) or [])[: want - len(pngs) - flagged]
            if not pics:
                raise TargetError("the pipeline returned no image")
            marks = list(getattr(out, "nsfw_content_detected", None) or [])
            for j, pic in enumerate(pics):
                if j < len(marks) and marks[j]:
                    flagged += 1
                else:
                    pngs.append(png_bytes(pic))
        return pngs, flagged

    async def generate(self, case: Case) -> Reply:
        if case.task not in IMAGE_OUT_TASKS:
            raise TargetError(f"diffusers makes images; a {case.task!r} case needs a text answer "
                              "(use --target hf, or set the suite's task to TI, IE, IC or MT)")
        pngs, flagged = await asyncio.to_thread(self._make, case)
        if not pngs:
            return Reply(output=(), provider_refusal=True, provider_message=FLAGGED)
        shas = await asyncio.to_thread(lambda: [self.blobs.put(p) for p in pngs])
        note = f"{flagged} of {flagged + len(pngs)} images: {FLAGGED}" if flagged else None
        return Reply(output=tuple(Part(type="image", image_sha256=s, mime="image/png") for s in shas),
                     provider_message=note)
