"""Local CLIP checkpoints for the VLM reward: offline loading and image preprocessing.

A checkpoint is a directory in the Hugging Face layout, as written by
``CLIPModel.save_pretrained(dir)`` plus ``CLIPProcessor.save_pretrained(dir)`` (or the
tokenizer's ``save_pretrained``): ``config.json`` (``model_type: "clip"``), the weights
(``model.safetensors`` or ``pytorch_model.bin``), the tokenizer files, and optionally
``preprocessor_config.json``. A copy of a hub model such as ``openai/clip-vit-base-patch32``
made on a machine with network access is such a directory. Loading never downloads: a path
that is not a local directory is an error, and every ``from_pretrained`` call passes
``local_files_only=True``.

Images are preprocessed here in torch rather than by ``CLIPImageProcessor``: in transformers 5
that class needs torchvision (whose wheel must match the torch build exactly) and Pillow, and
it works image by image. What CLIP's processor does, and what `preprocess` reproduces batched,
is: resize the shortest edge to ``size`` with Pillow's antialiased bicubic (torch runs the
same kernel on uint8 input, to within one grey level), center-crop to ``crop_size``, scale to
[0, 1] and normalise with ``image_mean`` / ``image_std``, all read from the checkpoint's
``preprocessor_config.json`` (OpenAI CLIP's values when the file is absent).

transformers is imported on first load, so ``import robopref.rewards.vlm`` (and the pure
NumPy reward maths there) works without it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from robopref.rewards.model_file import ModelFormatError

if TYPE_CHECKING:
    from transformers import CLIPModel, CLIPTextConfig, CLIPVisionConfig, PreTrainedTokenizerBase

__all__ = [
    "ClipCheckpoint",
    "ImageSettings",
    "load_clip_checkpoint",
    "preprocess",
]

# OpenAI CLIP's normalisation (Radford et al. 2021), which OpenAI's and most other released
# CLIP checkpoints use; the fallback when a checkpoint has no preprocessor_config.json.
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_HOW_TO_MAKE = (
    "a local CLIP checkpoint directory is needed (config.json, weights and tokenizer files, "
    "as written by CLIPModel.save_pretrained(dir) and CLIPProcessor.save_pretrained(dir)); "
    "nothing is downloaded at run time"
)


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    """How frames become CLIP pixel values (from ``preprocessor_config.json``)."""

    shortest_edge: int | None
    """Resize so the shorter side has this length, keeping the aspect ratio; None: see
    ``resize_to``."""
    resize_to: tuple[int, int] | None
    """Resize to exactly ``(height, width)`` (a processor whose ``size`` is height/width)."""
    crop_size: tuple[int, int]
    """Center crop ``(height, width)``; equals the vision tower's input size."""
    mean: tuple[float, float, float]
    """Per-channel mean subtracted after scaling to [0, 1]."""
    std: tuple[float, float, float]
    """Per-channel std divided by after subtracting the mean."""
    source: str
    """Where the settings came from (the file, or "OpenAI CLIP defaults")."""


@dataclasses.dataclass(frozen=True)
class ClipCheckpoint:
    """A loaded CLIP model with its tokenizer and image settings (eval mode, float32, CPU)."""

    path: Path
    model: CLIPModel
    tokenizer: PreTrainedTokenizerBase
    image: ImageSettings

    @property
    def embed_dim(self) -> int:
        """Size of the joint image-text embedding."""
        # CLIPConfig types its fields loosely (None, dicts): a loaded model has them set.
        return int(cast(int, self.model.config.projection_dim))

    @property
    def max_text_tokens(self) -> int:
        """Longest prompt (in tokens, with start and end tokens) the text tower accepts."""
        text = cast("CLIPTextConfig", self.model.config.text_config)
        return int(text.max_position_embeddings)


def _size_pair(value: Any, what: str, path: Path) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        h = w = value
    elif isinstance(value, dict) and {"height", "width"} <= value.keys():
        h, w = value["height"], value["width"]
    else:
        raise ModelFormatError(f"{path}: preprocessor_config.json {what} {value!r} not understood")
    if not all(isinstance(v, int) and v >= 1 for v in (h, w)):
        raise ModelFormatError(f"{path}: preprocessor_config.json {what} {value!r} not understood")
    return int(h), int(w)


def _image_settings(path: Path, image_size: int) -> ImageSettings:
    cfg_file = path / "preprocessor_config.json"
    if not cfg_file.is_file():
        return ImageSettings(
            image_size,
            None,
            (image_size, image_size),
            OPENAI_CLIP_MEAN,
            OPENAI_CLIP_STD,
            "OpenAI CLIP defaults (no preprocessor_config.json)",
        )
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as e:
        raise ModelFormatError(f"{cfg_file}: not a readable JSON file ({e})") from e
    if not isinstance(cfg, dict):
        raise ModelFormatError(f"{cfg_file}: expected a JSON object")
    size = cfg.get("size", image_size)
    shortest, exact = None, None
    if isinstance(size, dict) and "shortest_edge" in size:
        shortest = size["shortest_edge"]
        if isinstance(shortest, bool) or not isinstance(shortest, int) or shortest < 1:
            raise ModelFormatError(f"{cfg_file}: size {size!r} not understood")
    elif isinstance(size, int) and not isinstance(size, bool):
        shortest = size  # the old processors' int size means the shortest edge
    else:
        exact = _size_pair(size, "size", path)
    if not cfg.get("do_resize", True):
        raise ModelFormatError(f"{cfg_file}: do_resize=false is not supported (frames vary)")
    if cfg.get("do_center_crop", True):
        crop = _size_pair(cfg.get("crop_size", image_size), "crop_size", path)
    else:
        # without an exact size, the shortest edge is set (an int, checked above)
        crop = exact if exact is not None else cast("tuple[int, int]", (shortest, shortest))
    if crop != (image_size, image_size):
        raise ModelFormatError(
            f"{cfg_file}: images are cropped to {crop} but the vision tower takes "
            f"{image_size}x{image_size}"
        )
    small = shortest is not None and shortest < min(crop)
    if small or exact is not None and (exact[0] < crop[0] or exact[1] < crop[1]):
        raise ModelFormatError(f"{cfg_file}: crop {crop} is larger than the resized image")
    if cfg.get("do_normalize", True):
        stats = {
            k: cfg.get(k, d)
            for k, d in (("image_mean", OPENAI_CLIP_MEAN), ("image_std", OPENAI_CLIP_STD))
        }
    else:
        stats = {"image_mean": (0.0, 0.0, 0.0), "image_std": (1.0, 1.0, 1.0)}
    for key, v in stats.items():
        v = (v,) * 3 if isinstance(v, int | float) else v
        ok = isinstance(v, list | tuple) and len(v) == 3
        if not ok or not all(isinstance(c, int | float) and math.isfinite(c) for c in v):
            raise ModelFormatError(f"{cfg_file}: {key} {v!r} is not three finite numbers")
        stats[key] = tuple(float(c) for c in v)
    if min(stats["image_std"]) <= 0:
        raise ModelFormatError(f"{cfg_file}: image_std {stats['image_std']} must be > 0")
    return ImageSettings(
        shortest, exact, crop, stats["image_mean"], stats["image_std"], str(cfg_file)
    )


def load_clip_checkpoint(path: str | os.PathLike[str]) -> ClipCheckpoint:
    """Loads a CLIP model, its tokenizer and image settings from a local directory, offline.

    Args:
        path: the checkpoint directory (see the module docstring for its layout).

    Returns:
        The checkpoint, in eval mode, float32, on the CPU.

    Raises:
        FileNotFoundError: if ``path`` is not an existing directory (a hub model id is not
            fetched: copy the model to a directory first).
        ModelFormatError: naming the directory, if it is not a CLIP checkpoint, or its
            weights, tokenizer or preprocessor settings are missing, corrupt or truncated.
        ImportError: if transformers is not installed.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"VLM checkpoint {str(path)!r}: no such directory; {_HOW_TO_MAKE}")
    cfg_file = path / "config.json"
    try:
        model_type = json.loads(cfg_file.read_text()).get("model_type")
    except (OSError, ValueError, AttributeError) as e:
        raise ModelFormatError(f"{path}: no readable config.json ({e}); {_HOW_TO_MAKE}") from e
    if model_type != "clip":
        raise ModelFormatError(
            f"{path}: config.json has model_type {model_type!r}, expected 'clip'; {_HOW_TO_MAKE}"
        )
    try:
        import transformers
    except ImportError as e:  # an optional dependency: say which and how to get it
        raise ImportError(
            "the VLM reward needs the 'transformers' package (the robopref[vlm] extra)"
        ) from e
    try:
        model = transformers.CLIPModel.from_pretrained(
            path, local_files_only=True, dtype=torch.float32
        )
    except Exception as e:  # any failure to parse the weights: re-raised, typed, with the path
        raise ModelFormatError(f"{path}: CLIP weights not loadable ({e}); {_HOW_TO_MAKE}") from e
    # transformers 5 builds an empty tokenizer when its files are missing: check first.
    if not (path / "tokenizer.json").is_file() and not all(
        (path / f).is_file() for f in ("vocab.json", "merges.txt")
    ):
        raise ModelFormatError(
            f"{path}: no tokenizer files (tokenizer.json, or vocab.json and merges.txt); "
            f"{_HOW_TO_MAKE}"
        )
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:  # as above, for the tokenizer files
        raise ModelFormatError(f"{path}: tokenizer not loadable ({e}); {_HOW_TO_MAKE}") from e
    # CLIPConfig types its sub-configs as dict | config | None: a loaded model has configs.
    text = cast("CLIPTextConfig", model.config.text_config)
    if len(tokenizer) > text.vocab_size:
        raise ModelFormatError(
            f"{path}: the tokenizer has {len(tokenizer)} tokens but the text tower embeds "
            f"{text.vocab_size}: they do not belong together"
        )
    # eos_token_id 2 is the old configs' marker for "pool at the highest token id" (OpenAI's
    # end token); otherwise the text tower pools at its eos id, which must be the tokenizer's.
    if text.eos_token_id != 2 and tokenizer.eos_token_id != text.eos_token_id:
        raise ModelFormatError(
            f"{path}: tokenizer end token id {tokenizer.eos_token_id} differs from the text "
            f"tower's eos_token_id {text.eos_token_id}"
        )
    vision = cast("CLIPVisionConfig", model.config.vision_config)
    image = _image_settings(path, int(cast(int, vision.image_size)))
    return ClipCheckpoint(path, model.eval(), tokenizer, image)


def preprocess(frames: np.ndarray, image: ImageSettings, device: torch.device) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` frames -> float32 ``(N, 3, h, w)`` normalised CLIP pixel values."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    h, w = x.shape[-2:]
    if image.shortest_edge is not None:
        # transformers' get_resize_output_image_size: the long side is truncated, not rounded.
        s = image.shortest_edge
        size = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
    else:
        assert image.resize_to is not None
        size = image.resize_to
    if size != (h, w):
        # On uint8 input torch runs Pillow's separable antialiased bicubic (a = -0.5) with
        # Pillow's rounding and clipping between passes: within 1/255 of PIL's resize, which
        # CLIP was trained with (the float path differs by up to ~0.1 near edges).
        x = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)
    x = x.to(device=device, dtype=torch.float32) / 255.0
    ch, cw = image.crop_size
    # torchvision's center_crop (what CLIPImageProcessor calls) rounds the offsets.
    top, left = round((size[0] - ch) / 2), round((size[1] - cw) / 2)
    x = x[..., top : top + ch, left : left + cw]
    mean = torch.tensor(image.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(image.std, device=device).view(1, 3, 1, 1)
    return (x - mean) / std
