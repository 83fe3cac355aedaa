"""Tiny randomly initialised models built from configs and saved like hub models, for tests of the
local `hf` and `diffusers` targets (loaded back through the real loading code, offline)."""

from __future__ import annotations

import json
from pathlib import Path

IMAGE_SIZE = 32
VLM_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} :"
    "{% if m['content'] is string %} {{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %} <image>{% else %} {{ c['text'] }}{% endif %}{% endfor %}{% endif %} [EOS] "
    "{% endfor %}{% if add_generation_prompt %}assistant :{% endif %}"
)
WORDS = ("user", "assistant", "system", ":", "what", "is", "in", "this", "picture", "?", "draw", "a", "cat",
         "make", "it", "blue", "hello", "describe", ".", "say")


def word_tokenizer(extra: tuple[str, ...] = ()):
    """A word-level fast tokenizer built offline (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[BOS]", "[EOS]", *extra, *WORDS])}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]",
                                   eos_token="[EOS]")


def tiny_vlm(path: Path) -> Path:
    """A Llava (tiny CLIP vision tower + 2-layer Llama) with a LlavaProcessor and a chat template."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    tok = word_tokenizer(("<image>",))
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image_token = tok.convert_tokens_to_ids("<image>")
    text = LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=2, intermediate_size=64, max_position_embeddings=512,
                       pad_token_id=0, bos_token_id=2, eos_token_id=3)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=IMAGE_SIZE, patch_size=8, projection_dim=32)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token,
                         vision_feature_layer=-1, vision_feature_select_strategy="default")
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(path)
    images = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    proc = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                          chat_template=VLM_CHAT_TEMPLATE, image_token="<image>", num_additional_image_tokens=1)
    proc.save_pretrained(path)
    return path


def tiny_text_lm(path: Path) -> Path:
    """A 2-layer Llama causal LM with a tokenizer and chat template (no processor: text only)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = word_tokenizer()
    tok.chat_template = VLM_CHAT_TEMPLATE
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 num_key_value_heads=2, intermediate_size=64, max_position_embeddings=512,
                                 pad_token_id=0, bos_token_id=2, eos_token_id=3)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_sd(path: Path) -> Path:
    """A Stable Diffusion pipeline with tiny UNet, VAE and CLIP text encoder, a CLIPTokenizer from a
    small vocab.json/merges.txt written here, and a PNDM-free DDIM scheduler; no safety checker."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=IMAGE_SIZE // 2,
                                in_channels=4, out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=8, attention_head_dim=4)
    vae = AutoencoderKL(block_out_channels=(32,), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",),
                        norm_num_groups=8, sample_size=IMAGE_SIZE)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=32,
                                        intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                                        vocab_size=1000, max_position_embeddings=77, projection_dim=32))
    tok_dir = path.parent / f"{path.name}-tok"
    tok_dir.mkdir(parents=True, exist_ok=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 2, "!": 1}
    for ch in letters + ["?", "."]:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    (tok_dir / "vocab.json").write_text(json.dumps(vocab))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), pad_token="!", model_max_length=77)
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tok, scheduler=sched,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(path)
    return path
