"""VLM (CLIP) reward: VLM-RM's projection maths against hand computations, a tiny random CLIP
saved and loaded offline through the same path a real checkpoint takes, fusion over views,
input checks, corrupt checkpoints, and refusing NaN."""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import string
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from robopref.rewards import NonFiniteRewardError, PotentialShapingWrapper
from robopref.rewards.model_file import ModelFormatError
from robopref.rewards.vlm import (
    VLMReward,
    VLMRewardConfig,
    load_clip_checkpoint,
    projected_reward,
    projection_matrix,
)
from robopref.rewards.vlm_clip import ImageSettings, preprocess

GOAL = ("a red cube on the green target",)
BASE = ("a red cube", "a robot arm")
VIEWS = ("front", "side", "wrist")
MAX_TOKENS = 32
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


# --------------------------------------------------------------------------------------
# A tiny CLIP with random weights, saved like a real checkpoint
# --------------------------------------------------------------------------------------


class NetworkUsed(RuntimeError):
    pass


@pytest.fixture(scope="module", autouse=True)
def offline():
    """The whole module runs with the hub's offline switches on and sockets refusing to
    connect or resolve names; every attempt is recorded, so a test can assert none was made."""
    attempts: list[object] = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise NetworkUsed(f"network access attempted: {address!r}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        try:  # the hub client reads the variable at import; it may be imported already
            import huggingface_hub.constants as hub_constants

            mp.setattr(hub_constants, "HF_HUB_OFFLINE", True)
        except ImportError:
            pass  # no transformers: only the NumPy and config tests run
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "getaddrinfo", lambda host, *a, **k: refuse(None, host))  # DNS
        yield attempts


def write_tokenizer(directory: Path):
    """A byte-level BPE CLIP tokenizer over lower-case letters, with a few merges."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for c in string.ascii_lowercase:
            vocab[c + suffix] = len(vocab)
    merges = ["r e", "re d</w>", "c u", "cu b", "cub e</w>"]
    for m in merges:
        vocab["".join(m.split())] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(vocab=str(directory / "vocab.json"), merges=str(directory / "merges.txt"))


def save_tiny_clip(directory: Path, seed: int = 0) -> Path:
    from transformers import CLIPConfig, CLIPModel

    directory.mkdir(parents=True, exist_ok=True)
    tok = write_tokenizer(directory)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    # openai/clip-vit-base-patch32's preprocessor_config.json, at this model's input size.
    pre = {
        "crop_size": 32,
        "do_center_crop": True,
        "do_normalize": True,
        "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": list(MEAN),
        "image_std": list(STD),
        "resample": 3,
        "size": 32,
    }
    (directory / "preprocessor_config.json").write_text(json.dumps(pre))
    return directory


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")  # the robopref[vlm] extra; every CLIP test needs it
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def clip(ckpt):
    return load_clip_checkpoint(ckpt)


def make(clip, **kw) -> VLMReward:
    kw = {"goal_prompts": GOAL, "baseline_prompts": BASE, "alpha": 0.5, **kw}
    return VLMReward(clip, VLMRewardConfig(checkpoint=str(clip.path), **kw))


@pytest.fixture(scope="module")
def reward(clip) -> VLMReward:
    return make(clip)


def frames(n: int, size=(84, 84), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)


def observation(seed: int = 0, views=VIEWS) -> dict[str, np.ndarray]:
    obs = {"state": np.zeros(37, np.float32)}
    for i, v in enumerate(views):
        obs[v] = frames(1, seed=seed * 10 + i)[0]
    return obs


# --------------------------------------------------------------------------------------
# The projection maths (NumPy), by hand
# --------------------------------------------------------------------------------------

# g = e1, b = e2, so d = (1, -1, 0) and ||d||^2 = 2; x = e3, so x - g = (-1, 0, 1), whose
# component along d is (-1/2, 1/2, 0). Then (x - g) P = (-1 + alpha/2, alpha/2, 1 - alpha) and
# R = 1 - ((1 - alpha/2)^2 + alpha^2/4 + (1 - alpha)^2) / 2.
G, B, X = np.eye(3)


@pytest.mark.parametrize(
    ("alpha", "expected"),
    [(0.0, 0.0), (0.5, 1 - (0.75**2 + 0.0625 + 0.25) / 2), (1.0, 0.75)],
)
def test_projected_reward_matches_hand_computation(alpha, expected):
    assert projected_reward(X, G, B, alpha) == pytest.approx(expected, abs=1e-12)
    # x is normalised first, as VLM-RM does: the scale of an embedding does not matter.
    assert projected_reward(3.0 * X, G, B, alpha) == pytest.approx(expected, abs=1e-12)


def test_projection_matrix_by_hand():
    d = np.array([1.0, -1.0, 0.0])
    p = projection_matrix(G, B, 0.25)
    np.testing.assert_allclose(p, 0.25 * np.outer(d, d) / 2 + 0.75 * np.eye(3), atol=1e-15)
    np.testing.assert_allclose(projection_matrix(G, B, 1.0) @ d, d)  # keeps d...
    np.testing.assert_allclose(projection_matrix(G, B, 1.0) @ X, 0, atol=1e-15)  # ...drops d-perp


def test_alpha_zero_is_plain_clip_reward_and_cosine():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 8))
    g = rng.normal(size=8)
    g /= np.linalg.norm(g)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    plain = 1 - 0.5 * np.sum((xn - g) ** 2, axis=1)
    np.testing.assert_allclose(projected_reward(x, g, None, 0.0), plain, atol=1e-12)
    np.testing.assert_allclose(projected_reward(x, g, None, 0.0), xn @ g, atol=1e-12)


def test_reward_is_maximal_at_goal():
    rng = np.random.default_rng(2)
    g, b = rng.normal(size=(2, 8))
    g /= np.linalg.norm(g)
    others = rng.normal(size=(200, 8))
    for alpha in (0.0, 0.3, 1.0):
        assert projected_reward(g, g, b, alpha) == pytest.approx(1.0, abs=1e-12)
        assert projected_reward(others, g, b, alpha).max() < 1.0


def test_projection_argument_errors():
    with pytest.raises(ValueError, match="alpha"):
        projected_reward(X, G, B, 1.5)
    with pytest.raises(ValueError, match="coincide"):
        projected_reward(X, G, G, 0.5)
    with pytest.raises(ValueError, match="baseline"):
        projected_reward(X, G, None, 0.5)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        projected_reward(np.ones(4), G, B, 0.5)


# --------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"goal_prompts": "a red cube"}, "goal_prompts"),
        ({"goal_prompts": ()}, "goal_prompts"),
        ({"baseline_prompts": ("",)}, "baseline_prompts"),
        ({"baseline_prompts": (), "alpha": 0.5}, "baseline_prompts"),
        ({"alpha": -0.1}, "alpha"),
        ({"alpha": True}, "alpha"),
        ({"views": ("front", "front")}, "views"),
        ({"view_weights": (1.0, 2.0)}, "view_weights"),
        ({"view_weights": (1.0, 0.0, 1.0)}, "view_weights"),
        ({"batch_size": 0}, "batch_size"),
        ({"device": "warp-drive"}, "device"),
        ({"name": ""}, "name"),
    ],
)
def test_config_errors_name_the_field(change, field):
    kw = {"checkpoint": "/ckpt", "goal_prompts": GOAL, "baseline_prompts": BASE, **change}
    with pytest.raises(ValueError, match=field):
        VLMRewardConfig(**kw)


def test_config_round_trips_through_json():
    cfg = VLMRewardConfig("/ckpt", GOAL, BASE, alpha=0.75, view_weights=(1, 2, 3), name="x")
    back = VLMRewardConfig(**json.loads(json.dumps(dataclasses.asdict(cfg))))
    assert back == cfg


def test_config_normalises_lists():
    cfg = VLMRewardConfig("/ckpt", ["a"], alpha=0.0, views=["front"], view_weights=[2])
    assert cfg.goal_prompts == ("a",) and cfg.views == ("front",)
    assert cfg.weights == {"front": 2.0}


# --------------------------------------------------------------------------------------
# Loading: the real-checkpoint path, offline, and its errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("hub_offline", [True, False])
def test_load_is_offline_and_uses_checkpoint_settings(ckpt, offline, monkeypatch, hub_offline):
    import huggingface_hub.constants as hub_constants

    if not hub_offline:  # local_files_only alone must keep the loader off the network
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            monkeypatch.delenv(var)
        monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(NetworkUsed):  # the guard is live...
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    offline.clear()
    r = VLMReward.load(ckpt, goal_prompts=GOAL, baseline_prompts=BASE, alpha=0.25)
    assert offline == []  # ...and loading never tried the network
    assert r.image_settings.crop_size == (32, 32) and r.image_settings.shortest_edge == 32
    assert r.image_settings.mean == MEAN and "preprocessor_config.json" in r.image_settings.source
    assert r.goal_embedding.shape == (16,) and r.baseline_embedding.shape == (16,)
    assert np.isfinite(r.potential(observation()))


def test_missing_checkpoint_says_a_local_directory_is_needed(tmp_path):
    for path in ("openai/clip-vit-base-patch32", tmp_path / "nope"):
        with pytest.raises(FileNotFoundError, match="local CLIP checkpoint directory"):
            VLMReward.load(path, goal_prompts=GOAL, alpha=0.0)


def test_directory_that_is_not_a_clip_checkpoint(tmp_path):
    with pytest.raises(ModelFormatError, match="config.json") as e:
        load_clip_checkpoint(tmp_path)
    assert str(tmp_path) in str(e.value)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelFormatError, match="'bert', expected 'clip'"):
        load_clip_checkpoint(tmp_path)


def test_truncated_weights_are_a_model_format_error(ckpt, tmp_path):
    bad = shutil.copytree(ckpt, tmp_path / "bad")
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelFormatError, match="weights not loadable") as e:
        load_clip_checkpoint(bad)
    assert str(bad) in str(e.value)


def test_missing_tokenizer_is_a_model_format_error(ckpt, tmp_path):
    bad = shutil.copytree(ckpt, tmp_path / "bad")
    for f in ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json"):
        (bad / f).unlink(missing_ok=True)
    with pytest.raises(ModelFormatError, match="no tokenizer files"):
        load_clip_checkpoint(bad)


def test_tokenizer_that_does_not_match_the_text_tower(ckpt, tmp_path):
    bad = shutil.copytree(ckpt, tmp_path / "bad")
    cfg = json.loads((bad / "config.json").read_text())
    cfg["text_config"]["eos_token_id"] = 5
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="end token id 1 differs"):
        load_clip_checkpoint(bad)


def test_missing_transformers_says_which_extra(ckpt, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"robopref\[vlm\]"):
        load_clip_checkpoint(ckpt)


def test_preprocessor_config_errors(ckpt, tmp_path):
    bad = shutil.copytree(ckpt, tmp_path / "bad")
    pre = json.loads((bad / "preprocessor_config.json").read_text())
    (bad / "preprocessor_config.json").write_text(json.dumps({**pre, "crop_size": 64}))
    with pytest.raises(ModelFormatError, match="vision tower takes 32x32"):
        load_clip_checkpoint(bad)
    (bad / "preprocessor_config.json").write_text(json.dumps({**pre, "image_std": [1, 0, 1]}))
    with pytest.raises(ModelFormatError, match="image_std"):
        load_clip_checkpoint(bad)


@pytest.mark.parametrize(
    ("pre", "expected"),
    [
        (  # transformers' current layout
            {"size": {"shortest_edge": 40}, "crop_size": {"height": 32, "width": 32}},
            (40, None, (32, 32), MEAN, STD),
        ),
        (
            {"size": {"height": 32, "width": 32}, "do_center_crop": False, "image_mean": 0.5},
            (None, (32, 32), (32, 32), (0.5, 0.5, 0.5), STD),
        ),
        ({"do_normalize": False}, (32, None, (32, 32), (0.0,) * 3, (1.0,) * 3)),
    ],
)
def test_preprocessor_config_layouts(ckpt, tmp_path, pre, expected):
    other = shutil.copytree(ckpt, tmp_path / "other")
    (other / "preprocessor_config.json").write_text(json.dumps(pre))
    r = VLMReward.load(other, goal_prompts=GOAL, alpha=0.0)
    image = r.image_settings
    assert (
        image.shortest_edge,
        image.resize_to,
        image.crop_size,
        image.mean,
        image.std,
    ) == expected
    assert np.isfinite(r.potential_batch({"front": frames(2, size=(50, 70))})).all()


def test_without_preprocessor_config_uses_openai_defaults(ckpt, tmp_path):
    plain = shutil.copytree(ckpt, tmp_path / "plain")
    (plain / "preprocessor_config.json").unlink()
    image = load_clip_checkpoint(plain).image
    assert (image.shortest_edge, image.crop_size, image.mean, image.std) == (
        32,
        (32, 32),
        MEAN,
        STD,
    )


def test_prompt_longer_than_text_tower_is_refused(clip):
    with pytest.raises(ValueError, match=f"at most {MAX_TOKENS}"):
        make(clip, goal_prompts=("a red cube " * 20,))


def test_identical_goal_and_baseline_prompts_are_refused(clip):
    with pytest.raises(ValueError, match="coincide"):
        make(clip, baseline_prompts=GOAL)


# --------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(84, 84), (64, 96), (120, 40), (32, 32)])
def test_preprocess_constant_frame(size):
    image = ImageSettings(32, None, (32, 32), MEAN, STD, "test")
    rgb = np.array([200, 30, 90], np.uint8)
    px = preprocess(np.broadcast_to(rgb, (2, *size, 3)), image, torch.device("cpu"))
    assert px.shape == (2, 3, 32, 32)
    expected = (rgb / 255 - np.array(MEAN)) / np.array(STD)
    np.testing.assert_allclose(px.mean((0, 2, 3)).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(px.std((0, 2, 3)).numpy(), 0, atol=1e-5)


# Pillow 13's Image.resize((8, 8), Image.BICUBIC) of the two frames below (channel-first),
# computed once with Pillow (not a test dependency): CLIP was trained on PIL-resized images.
PIL_UP = np.array(
    [
        [
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 11, 46, 47, 12, 0, 0, 0],
            [0, 46, 183, 187, 49, 0, 0, 0],
            [0, 47, 187, 192, 50, 0, 0, 0],
            [0, 12, 49, 50, 13, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0, 0, 0],
        ],
        [
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 11, 46, 47, 12, 0, 0, 0],
            [0, 46, 183, 187, 49, 0, 0, 0],
            [0, 47, 187, 192, 50, 6, 24, 31],
            [0, 12, 49, 50, 13, 24, 90, 121],
            [0, 0, 0, 0, 0, 24, 88, 118],
            [0, 0, 0, 0, 0, 6, 22, 29],
            [0, 0, 0, 0, 0, 0, 0, 0],
        ],
        [
            [0, 0, 0, 0, 0, 0, 0, 0],
            [0, 11, 46, 47, 12, 0, 0, 0],
            [0, 46, 183, 187, 49, 0, 0, 0],
            [0, 47, 187, 192, 50, 13, 47, 58],
            [0, 12, 49, 50, 13, 49, 180, 221],
            [0, 0, 0, 0, 0, 47, 175, 216],
            [0, 0, 0, 0, 0, 12, 44, 54],
            [0, 0, 0, 0, 0, 0, 0, 0],
        ],
    ],
    np.uint8,
)
PIL_DOWN = np.array(
    [
        [
            [165, 12, 157, 13, 157, 13, 158, 0],
            [165, 12, 157, 13, 157, 13, 158, 0],
            [165, 12, 157, 14, 164, 12, 158, 0],
            [165, 12, 158, 4, 58, 22, 158, 0],
            [165, 12, 159, 0, 0, 27, 158, 0],
            [165, 12, 158, 9, 108, 17, 158, 0],
            [165, 12, 157, 14, 163, 12, 158, 0],
            [165, 12, 157, 13, 157, 13, 158, 0],
        ],
        [
            [165, 12, 157, 13, 157, 13, 158, 0],
            [165, 12, 157, 13, 157, 13, 158, 0],
            [165, 12, 157, 8, 154, 10, 158, 0],
            [165, 12, 152, 88, 197, 63, 153, 0],
            [165, 12, 149, 134, 221, 95, 149, 0],
            [165, 12, 155, 49, 176, 38, 155, 0],
            [165, 12, 157, 8, 155, 10, 158, 0],
            [165, 12, 157, 13, 157, 13, 158, 0],
        ],
        [
            [165, 12, 157, 13, 157, 13, 158, 0],
            [165, 12, 157, 13, 157, 13, 158, 0],
            [165, 12, 157, 11, 160, 11, 158, 0],
            [165, 12, 156, 39, 116, 39, 155, 0],
            [165, 12, 155, 54, 91, 55, 154, 0],
            [165, 12, 156, 25, 137, 26, 157, 0],
            [165, 12, 157, 11, 160, 11, 158, 0],
            [165, 12, 157, 13, 157, 13, 158, 0],
        ],
    ],
    np.uint8,
)


def pil_test_frames() -> tuple[np.ndarray, np.ndarray]:
    up = np.zeros((4, 4, 3), np.uint8)  # a white dot and an orange one: bicubic lobes clip
    up[1, 1], up[2, 3] = 255, (0, 128, 255)
    down = np.zeros((12, 12, 3), np.uint8)  # stripes and a patch: antialiasing matters
    down[:, ::3], down[5:8, 5:8] = 255, (10, 200, 90)
    return up, down


def test_preprocess_resize_matches_pillow_bicubic():
    image = ImageSettings(8, None, (8, 8), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "test")
    for frame, pil in zip(pil_test_frames(), (PIL_UP, PIL_DOWN)):
        px = preprocess(frame[None], image, torch.device("cpu"))[0].numpy()
        np.testing.assert_allclose(px * 255, pil, atol=1.0 + 1e-4)  # rounding: one grey level


def test_preprocess_center_crop():
    # 8x16 -> shortest edge 8 keeps the size; the crop takes columns 4..11.
    image = ImageSettings(8, None, (8, 8), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "test")
    f = np.zeros((1, 8, 16, 3), np.uint8)
    f[0, :, :, 0] = np.arange(16) * 10
    px = preprocess(f, image, torch.device("cpu"))[0, 0].numpy() * 255
    np.testing.assert_allclose(px, np.tile(np.arange(4, 12) * 10.0, (8, 1)), atol=1e-3)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (frames(1).astype(np.float32), "uint8"),
        (frames(1)[..., :1], r"\(N, H, W, 3\)"),
        (np.zeros((1, 8, 8, 4), np.uint8), r"\(N, H, W, 3\)"),
        (frames(1)[0], r"\(N, H, W, 3\)"),
    ],
)
def test_bad_frames_are_value_errors(reward, bad, match):
    with pytest.raises(ValueError, match=match):
        reward.potential_batch({"front": bad})
    with pytest.raises(ValueError, match=match):
        reward.embed_images(bad)


@pytest.mark.parametrize(
    "image",
    [frames(1), frames(1)[0, :, :, 0], frames(1)[0, :, :, :2], frames(1)[0].astype(np.float32)],
)
def test_bad_observation_image(reward, image):
    obs = observation()
    obs["side"] = image
    with pytest.raises(ValueError, match=r"obs\['side'\]: expected a uint8 \(H, W, 3\)"):
        reward.potential(obs)


def test_non_mapping_observation(reward):
    with pytest.raises(ValueError, match="mapping"):
        reward.potential(np.zeros((84, 84, 3), np.uint8))


# --------------------------------------------------------------------------------------
# The torch path: agreement with the NumPy maths, fusion, determinism, NaN
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_torch_path_agrees_with_numpy(clip, alpha):
    r = make(clip, alpha=alpha, views=("front",))
    f = frames(5, seed=4)
    x = r.embed_images(f)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-12)
    expected = projected_reward(x, r.goal_embedding, r.baseline_embedding, alpha)
    np.testing.assert_allclose(r.potential_batch({"front": f}), expected, atol=1e-12)
    # Chunked forward passes (batch_size 2) score each frame the same as one pass.
    chunked = make(clip, alpha=alpha, views=("front",), batch_size=2)
    np.testing.assert_allclose(chunked.potential_batch({"front": f}), expected, atol=1e-6)


def test_goal_embedding_is_mean_of_normalised_prompt_embeddings(clip):
    single = [make(clip, goal_prompts=(p,), alpha=0.0).goal_embedding for p in BASE]
    both = make(clip, goal_prompts=BASE, alpha=0.0).goal_embedding
    np.testing.assert_allclose(both, np.mean(single, axis=0), atol=1e-6)
    assert all(np.linalg.norm(s) == pytest.approx(1.0) for s in single)


def test_weighted_fusion_over_views_and_missing_views(clip):
    r = make(clip, view_weights=(1.0, 2.0, 3.0))
    obs = observation(seed=5)
    s = r.score(obs)
    assert s.missing == () and r.last_missing_views == ()
    assert set(s.per_view) == set(VIEWS) and len(set(s.per_view.values())) == 3
    pv = s.per_view
    assert s.potential == pytest.approx((pv["front"] + 2 * pv["side"] + 3 * pv["wrist"]) / 6)
    assert r.per_view(obs) == pv
    del obs["wrist"]
    s2 = r.score(obs)
    assert s2.missing == ("wrist",) and r.last_missing_views == ("wrist",)
    assert s2.potential == pytest.approx((pv["front"] + 2 * pv["side"]) / 3)
    assert r.potential(obs) == s2.potential
    with pytest.raises(ValueError, match="none of the configured views"):
        r.potential({"state": obs["state"], "top": obs["front"]})


def test_batch_equals_per_observation(clip, reward):
    batch = {v: frames(4, seed=6 + i) for i, v in enumerate(VIEWS)}
    batch["side"] = frames(4, size=(48, 64), seed=9)  # views may differ in size
    per_obs = [reward.potential({v: f[i] for v, f in batch.items()}) for i in range(4)]
    np.testing.assert_allclose(reward.potential_batch(batch), per_obs, atol=1e-6)
    # Forward passes of 5 images cut across views (4 + 1, 3 + 2, 2 + 2): same scores.
    small = make(clip, batch_size=5).score_batch(batch)
    full = reward.score_batch(batch)
    for v in VIEWS:
        np.testing.assert_allclose(small.per_view[v], full.per_view[v], atol=1e-6)
    assert reward.potential_batch({"front": frames(0)}).shape == (0,)
    with pytest.raises(ValueError, match="different numbers of frames"):
        reward.potential_batch({"front": frames(2), "side": frames(3)})


def test_deterministic(reward):
    obs = observation(seed=7)
    assert reward.potential(obs) == reward.potential(obs)
    assert reward.potential(obs) != reward.potential(observation(seed=8))


def test_nan_in_weights_names_the_model(ckpt):
    r = VLMReward.load(ckpt, goal_prompts=GOAL, baseline_prompts=BASE, name="cube_clip")
    with torch.no_grad():
        r._model.visual_projection.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteRewardError, match="'cube_clip'.*view 'front'"):
        r.potential(observation())
    clip = load_clip_checkpoint(ckpt)
    with torch.no_grad():
        clip.model.text_projection.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteRewardError, match="'vlm_reward'.*goal_prompts"):
        make(clip)


def test_plugs_into_potential_shaping(reward):
    class CameraEnv(gym.Env):
        observation_space = gym.spaces.Dict(
            {v: gym.spaces.Box(0, 255, (84, 84, 3), np.uint8) for v in VIEWS}
        )
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            self.t = 0
            return observation(seed=0), {}

        def step(self, action):
            self.t += 1
            return observation(seed=self.t), 0.0, False, self.t >= 2, {}

    env = PotentialShapingWrapper(CameraEnv(), reward, gamma=0.9)
    _, info = env.reset()
    assert info["potential"] == reward.potential(observation(seed=0))
    _, r, *_, info = env.step(0)
    phi0, phi1 = reward.potential(observation(seed=0)), reward.potential(observation(seed=1))
    assert r == pytest.approx(0.9 * phi1 - phi0)
