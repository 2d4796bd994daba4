"""The evaluator blob (``.rpe``): exported heads, shaping constants and a policy in one
checked file.

Format "RPE", version 1 (DESIGN.md contract 7). All integers and floats are little-endian;
``u32``/``u64`` unsigned, ``f32``/``f64`` IEEE 754. Arrays are C-order.

=========  ======  =====================================================================
offset     type    field
=========  ======  =====================================================================
0          8 B     magic ``89 52 50 45 0D 0A 1A 0A`` (``\\x89RPE\\r\\n\\x1a\\n``; PNG's trick:
                   the high byte and CR LF / EOF catch 7-bit and text-mode mangling)
8          u32     format version (1)
12         u32     number of sections, 1 to 6
16         u64     total size of the blob in bytes, checksum included
24         u64     reserved, 0
32         ...     sections, each: ``u32 kind, u32 reserved (0), u64 size``, then ``size``
                   payload bytes. Kinds: 1 preference, 2 PRM, 3 shaping, 4 policy, 5 PRM
                   success, 6 PRM preference; each at most once
end - 4    u32     CRC-32 (zlib's) of every byte before it
=========  ======  =====================================================================

Payloads (``sizes`` are the layer widths ``in, h1, ..., out``; ``W`` ``(in, out)`` per layer):

* preference: ``u32 input, activation, output_activation, members E, layers L, obs_dim``;
  ``u32 sizes[L+1]``; ``f32 input_mean[in], input_std[in]``; per layer ``f32 W[E][in][out],
  b[E][out]``. Codes are indices into `heads.INPUTS`, `heads.ACTIVATIONS`,
  `heads.OUTPUT_ACTIVATIONS`.
* PRM: ``u32 views V, dim D, activation, layers L``; ``f64 norm_eps``; ``u32 sizes[L+1]``;
  per view ``u32 n`` and ``n`` UTF-8 bytes, zero-padded to a multiple of 4; ``f32
  view_embed[V][D], attn_query[D], norm_weight[D], norm_bias[D]``; per layer ``f32 W[in][out],
  b[out]``; ``f32 bin_centers[K]``.
* shaping: ``f64 gamma, scale``.
* policy (added after version 1 shipped, so an older reader refuses it as an unknown
  section): ``u32 policy_version`` (`heads.POLICY_VERSION`; a reader refuses another),
  ``u32 algo, activation, output, layers L``; ``u32 sizes[L+1]`` (``obs_dim .. act_dim``);
  the strings ``task``, ``robot``, ``layout``, each ``u32 n`` and ``n`` UTF-8 bytes,
  zero-padded to a multiple of 4; ``f64 obs_clip, obs_mean[in], obs_std[in]``; per layer
  ``f32 W[in][out], b[out]``; ``f32 action_low[out], action_high[out]``. Codes index
  `heads.POLICY_ALGOS`, `heads.ACTIVATIONS`, `heads.ACTIONS`.
* PRM success, PRM preference (issue 14; added after version 1 shipped, like the policy: a
  blob without them reads as before, an older reader refuses them as unknown sections):
  ``u32 head_version`` (`heads.PRM_HEAD_VERSION`; a reader refuses another), ``u32 layers
  L``; ``u32 sizes[L+1]`` (``D .. 1``); per layer ``f32 W[in][out], b[out]``. The MLP reads
  the PRM's fused feature with the PRM's hidden activation, so each must come after the PRM
  section, with ``sizes[0]`` its ``D``. P(success) is the sigmoid of the success head's
  output; the preference head's output is the per-frame score as is.

A reader refuses anything else: another magic or version, a size that disagrees with the
data, a bad checksum, an unknown or repeated section, nonzero reserved bytes, a payload whose
size does not match its shapes, shapes beyond the limits in `heads`, non-finite numbers,
and heads whose float32 sums could overflow (the overflow rule in `heads`: where such a head
loaded, the C kernels and the NumPy twin could disagree). The C extension parses the same
bytes with the same checks.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from robopref.evaluator import heads as H

__all__ = ["MAGIC", "VERSION", "Blob", "BlobFormatError", "decode_blob", "encode_blob", "read_blob"]

MAGIC = b"\x89RPE\r\n\x1a\n"
VERSION = 1
SUFFIX = ".rpe"
MAX_BLOB_BYTES = 1 << 30
_HEADER = struct.Struct("<8sIIQQ")
_SECTION = struct.Struct("<IIQ")
_CRC = struct.Struct("<I")
PREFERENCE, PRM, SHAPING, POLICY, PRM_SUCCESS, PRM_PREFERENCE = 1, 2, 3, 4, 5, 6
_KIND_NAMES = {
    PREFERENCE: "preference",
    PRM: "PRM",
    SHAPING: "shaping",
    POLICY: "policy",
    PRM_SUCCESS: "PRM success",
    PRM_PREFERENCE: "PRM preference",
}
#: The PRM's optional heads (`heads.PRM_HEADS`) and their section kinds.
_PRM_HEAD_KINDS = {"success": PRM_SUCCESS, "preference": PRM_PREFERENCE}


class BlobFormatError(ValueError):
    """An evaluator blob is corrupt, truncated, not a blob, or of a version not understood."""


@dataclasses.dataclass(frozen=True)
class Blob:
    """The decoded contents of a blob: any of the two heads, the shaping constants and a
    policy."""

    preference: dict[str, Any] | None = None
    prm: dict[str, Any] | None = None
    gamma: float | None = None
    scale: float | None = None
    policy: dict[str, Any] | None = None


def _f32(*arrays: np.ndarray) -> bytes:
    return b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays)


def _u32(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}I", *values)


def _text(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _u32(len(raw)) + raw + b"\0" * (-len(raw) % 4)


def _preference_payload(h: dict[str, Any]) -> bytes:
    sizes = [h["weights"][0].shape[1]] + [w.shape[2] for w in h["weights"]]
    codes = (H.INPUTS.index(h["input"]), H.ACTIVATIONS.index(h["activation"]))
    parts = [
        _u32(*codes, H.OUTPUT_ACTIVATIONS.index(h["output_activation"])),
        _u32(h["weights"][0].shape[0], len(h["weights"]), h["obs_dim"], *sizes),
        _f32(h["input_mean"], h["input_std"]),
    ]
    parts += [_f32(w, b) for w, b in zip(h["weights"], h["biases"])]
    return b"".join(parts)


def _prm_payload(h: dict[str, Any]) -> bytes:
    sizes = [h["weights"][0].shape[0]] + [w.shape[1] for w in h["weights"]]
    v, d = h["view_embed"].shape
    parts = [_u32(v, d, H.ACTIVATIONS.index(h["activation"]), len(h["weights"]))]
    parts += [struct.pack("<d", h["norm_eps"]), _u32(*sizes)]
    for name in h["views"]:
        raw = name.encode("utf-8")
        parts += [_u32(len(raw)), raw, b"\0" * (-len(raw) % 4)]
    parts.append(_f32(h["view_embed"], h["attn_query"], h["norm_weight"], h["norm_bias"]))
    parts += [_f32(w, b) for w, b in zip(h["weights"], h["biases"])]
    parts.append(_f32(h["bin_centers"]))
    return b"".join(parts)


def _prm_head_payload(h: dict[str, Any]) -> bytes:
    sizes = [h["weights"][0].shape[0]] + [w.shape[1] for w in h["weights"]]
    parts = [_u32(H.PRM_HEAD_VERSION, len(h["weights"]), *sizes)]
    parts += [_f32(w, b) for w, b in zip(h["weights"], h["biases"])]
    return b"".join(parts)


def _policy_payload(h: dict[str, Any]) -> bytes:
    sizes = [h["weights"][0].shape[0]] + [w.shape[1] for w in h["weights"]]
    codes = (H.POLICY_ALGOS.index(h["algo"]), H.ACTIVATIONS.index(h["activation"]))
    parts = [_u32(H.POLICY_VERSION, *codes, H.ACTIONS.index(h["output"]), len(h["weights"]))]
    parts += [_u32(*sizes), _text(h["task"]), _text(h["robot"]), _text(h["layout"])]
    parts.append(struct.pack("<d", h["obs_clip"]))
    parts.append(np.concatenate([h["obs_mean"], h["obs_std"]]).astype("<f8").tobytes())
    parts += [_f32(w, b) for w, b in zip(h["weights"], h["biases"])]
    parts.append(_f32(h["action_low"], h["action_high"]))
    return b"".join(parts)


def encode_blob(
    preference: dict[str, Any] | None = None,
    prm: dict[str, Any] | None = None,
    gamma: float | None = None,
    scale: float = 1.0,
    obs_dim: int | None = None,
    policy: dict[str, Any] | None = None,
) -> bytes:
    """The blob bytes for the given heads (validated first) and shaping constants.

    Args:
        preference: a preference ensemble head (`heads.check_preference_head`), or None.
        prm: a PRM head (`heads.check_prm_head`), or None; its optional ``"success"`` and
            ``"preference"`` heads go into their own sections, after the PRM's.
        gamma: the learner's discount; None leaves out the shaping section.
        scale: the shaping scale (used only with ``gamma``).
        obs_dim: state size of a ``"state_action"`` preference head without ``obs_dim``.
        policy: a policy head (`heads.check_policy_head`), or None.

    Raises:
        ValueError: on a malformed head or constants, or when there is nothing to write.
    """
    sections = []
    if preference is not None:
        sections.append(
            (PREFERENCE, _preference_payload(H.check_preference_head(preference, obs_dim)))
        )
    prm = H.check_prm_head(prm) if prm is not None else None
    if prm is not None:
        sections.append((PRM, _prm_payload(prm)))
    if gamma is not None:
        sections.append((SHAPING, struct.pack("<dd", *H.check_shaping(gamma, scale))))
    if policy is not None:
        sections.append((POLICY, _policy_payload(H.check_policy_head(policy))))
    for name, kind in _PRM_HEAD_KINDS.items():
        if prm is not None and name in prm:
            sections.append((kind, _prm_head_payload(prm[name])))
    if not sections:
        raise ValueError(
            "encode_blob: nothing to export (no preference, PRM head, gamma or policy)"
        )
    body = b"".join(_SECTION.pack(kind, 0, len(p)) + p for kind, p in sections)
    total = _HEADER.size + len(body) + _CRC.size
    data = _HEADER.pack(MAGIC, VERSION, len(sections), total, 0) + body
    return data + _CRC.pack(zlib.crc32(data))


class _Reader:
    """A cursor over one section's payload; every read is bounds-checked."""

    def __init__(self, data: bytes, start: int, end: int, what: str) -> None:
        self.data, self.pos, self.end, self.what = data, start, end, what

    def take(self, n: int) -> int:
        if n > self.end - self.pos:
            raise BlobFormatError(f"{self.what} section: payload too short for its shapes")
        self.pos += n
        return self.pos - n

    def u32(self, count: int = 1) -> tuple[int, ...]:
        return struct.unpack_from(f"<{count}I", self.data, self.take(4 * count))

    def f64(self) -> float:
        return struct.unpack_from("<d", self.data, self.take(8))[0]

    def f32(self, *shape: int) -> np.ndarray:
        n = int(np.prod(shape))
        a = np.frombuffer(self.data, "<f4", n, self.take(4 * n)).astype(np.float32)
        return a.reshape(shape)

    def f64s(self, n: int) -> np.ndarray:
        return np.frombuffer(self.data, "<f8", n, self.take(8 * n)).astype(np.float64)

    def text(self, what: str, empty: bool = False) -> str:
        """A ``u32 n`` + UTF-8 + zero padding string of 1 (0 if ``empty``) to max bytes."""
        (n,) = self.u32()
        if not (0 if empty else 1) <= n <= H.MAX_TEXT_BYTES:
            raise BlobFormatError(f"{self.what} section: {what} of {n} bytes")
        raw = self.data[self.take(n) : self.pos]
        if any(self.data[self.take(-n % 4) : self.pos]):
            raise BlobFormatError(f"{self.what} section: nonzero padding after the {what}")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BlobFormatError(f"{self.what} section: {what} is not UTF-8 ({e})") from e


def _check_sizes(what: str, sizes: tuple[int, ...]) -> None:
    # Checked before any array is read, so a corrupt size cannot request a huge read.
    if not all(1 <= s <= H.MAX_DIM for s in sizes):
        raise BlobFormatError(f"{what} section: layer sizes {sizes} outside [1, {H.MAX_DIM}]")


def _read_preference(r: _Reader) -> dict[str, Any]:
    kind, act, out_act, members, layers, obs_dim = r.u32(6)
    if not (1 <= layers <= H.MAX_LAYERS and 1 <= members <= H.MAX_MEMBERS):
        raise BlobFormatError(f"preference section: {members} members, {layers} layers")
    for code, names, what in (
        (kind, H.INPUTS, "input"),
        (act, H.ACTIVATIONS, "activation"),
        (out_act, H.OUTPUT_ACTIVATIONS, "output_activation"),
    ):
        if code >= len(names):
            raise BlobFormatError(f"preference section: unknown {what} code {code}")
    sizes = r.u32(layers + 1)
    _check_sizes("preference", sizes)
    if not (obs_dim == sizes[0] if kind == 0 else 1 <= obs_dim < sizes[0]):
        raise BlobFormatError(f"preference section: obs_dim {obs_dim} for {sizes[0]} inputs")
    head: dict[str, Any] = {
        "input": H.INPUTS[kind],
        "activation": H.ACTIVATIONS[act],
        "output_activation": H.OUTPUT_ACTIVATIONS[out_act],
        "obs_dim": obs_dim,
        "input_mean": r.f32(sizes[0]),
        "input_std": r.f32(sizes[0]),
        "weights": [],
        "biases": [],
    }
    for a, b in zip(sizes, sizes[1:]):
        head["weights"].append(r.f32(members, a, b))
        head["biases"].append(r.f32(members, b))
    return head


def _read_policy(r: _Reader) -> dict[str, Any]:
    version, algo, act, output, layers = r.u32(5)
    if version != H.POLICY_VERSION:
        raise BlobFormatError(
            f"policy section: version {version}; this reader understands {H.POLICY_VERSION} only"
        )
    if not 1 <= layers <= H.MAX_LAYERS:
        raise BlobFormatError(f"policy section: {layers} layers")
    for code, names, what in (
        (algo, H.POLICY_ALGOS, "algo"),
        (act, H.ACTIVATIONS, "activation"),
        (output, H.ACTIONS, "output"),
    ):
        if code >= len(names):
            raise BlobFormatError(f"policy section: unknown {what} code {code}")
    sizes = r.u32(layers + 1)
    _check_sizes("policy", sizes)
    head: dict[str, Any] = {
        "algo": H.POLICY_ALGOS[algo],
        "activation": H.ACTIVATIONS[act],
        "output": H.ACTIONS[output],
        "task": r.text("task"),
        "robot": r.text("robot", empty=True),
        "layout": r.text("layout"),
        "obs_clip": r.f64(),
        "obs_mean": r.f64s(sizes[0]),
        "obs_std": r.f64s(sizes[0]),
        "weights": [],
        "biases": [],
    }
    for a, b in zip(sizes, sizes[1:]):
        head["weights"].append(r.f32(a, b))
        head["biases"].append(r.f32(b))
    head["action_low"], head["action_high"] = r.f32(sizes[-1]), r.f32(sizes[-1])
    return head


def _read_prm(r: _Reader) -> dict[str, Any]:
    n_views, dim, act, layers = r.u32(4)
    eps = r.f64()
    if not (1 <= n_views <= H.MAX_VIEWS and 1 <= layers <= H.MAX_LAYERS):
        raise BlobFormatError(f"PRM section: {n_views} views, {layers} layers")
    if act >= len(H.ACTIVATIONS):
        raise BlobFormatError(f"PRM section: unknown activation code {act}")
    sizes = r.u32(layers + 1)
    _check_sizes("PRM", (dim, *sizes))
    views = []
    for _ in range(n_views):
        (n,) = r.u32()
        if not 1 <= n <= H.MAX_NAME_BYTES:
            raise BlobFormatError(f"PRM section: view name of {n} bytes")
        raw = r.data[r.take(n) : r.pos]
        if any(r.data[r.take(-n % 4) : r.pos]):
            raise BlobFormatError("PRM section: nonzero padding after a view name")
        try:
            views.append(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise BlobFormatError(f"PRM section: view name is not UTF-8 ({e})") from e
    head: dict[str, Any] = {
        "views": views,
        "activation": H.ACTIVATIONS[act],
        "norm_eps": eps,
        "view_embed": r.f32(n_views, dim),
        "attn_query": r.f32(dim),
        "norm_weight": r.f32(dim),
        "norm_bias": r.f32(dim),
        "weights": [],
        "biases": [],
    }
    for a, b in zip(sizes, sizes[1:]):
        head["weights"].append(r.f32(a, b))
        head["biases"].append(r.f32(b))
    head["bin_centers"] = r.f32(sizes[-1])
    return head


def _read_prm_head(r: _Reader, prm: dict[str, Any] | None) -> dict[str, Any]:
    if prm is None:
        raise BlobFormatError(
            f"{r.what} section: needs the PRM section before it (the head reads the PRM's "
            "fused features)"
        )
    version, layers = r.u32(2)
    if version != H.PRM_HEAD_VERSION:
        raise BlobFormatError(
            f"{r.what} section: version {version}; this reader understands "
            f"{H.PRM_HEAD_VERSION} only"
        )
    if not 1 <= layers <= H.MAX_LAYERS:
        raise BlobFormatError(f"{r.what} section: {layers} layers")
    sizes = r.u32(layers + 1)
    _check_sizes(r.what, sizes)
    dim = len(prm["attn_query"])
    if sizes[0] != dim:
        raise BlobFormatError(
            f"{r.what} section: the first layer takes {sizes[0]} inputs, the PRM's features "
            f"have {dim}"
        )
    if sizes[-1] != 1:
        raise BlobFormatError(f"{r.what} section: the last layer has {sizes[-1]} outputs, not 1")
    head: dict[str, Any] = {"weights": [], "biases": []}
    for a, b in zip(sizes, sizes[1:]):
        head["weights"].append(r.f32(a, b))
        head["biases"].append(r.f32(b))
    return head


def decode_blob(data: bytes, name: str = "<bytes>") -> Blob:
    """Parses and validates blob bytes.

    Args:
        data: the whole blob.
        name: names the blob in errors (a file path).

    Raises:
        BlobFormatError: ``"<name>: <problem>"`` for anything the format does not allow.
    """
    try:
        return _decode(bytes(data))
    except BlobFormatError as e:
        raise BlobFormatError(f"{name}: {e}") from None
    except ValueError as e:  # a head check: valid structure, inconsistent contents
        raise BlobFormatError(f"{name}: {e}") from e


def _decode(data: bytes) -> Blob:
    n = len(data)
    if n < _HEADER.size + _CRC.size:
        raise BlobFormatError(f"truncated: {n} bytes, an RPE blob has at least 36")
    if n > MAX_BLOB_BYTES:
        raise BlobFormatError(f"{n} bytes, more than an RPE blob may have ({MAX_BLOB_BYTES})")
    magic, version, n_sections, total, reserved = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BlobFormatError(f"not an RPE blob (magic {magic!r})")
    if version != VERSION:
        raise BlobFormatError(f"RPE version {version}; this reader understands {VERSION} only")
    if total != n:
        raise BlobFormatError(f"size mismatch: header says {total} bytes, got {n} (truncated?)")
    (crc,) = _CRC.unpack_from(data, n - _CRC.size)
    if crc != zlib.crc32(memoryview(data)[: n - _CRC.size]):
        raise BlobFormatError("checksum mismatch (the blob is corrupt)")
    if reserved != 0 or not 1 <= n_sections <= len(_KIND_NAMES):
        raise BlobFormatError(f"bad header: {n_sections} sections, reserved {reserved}")
    found: dict[int, Any] = {}
    pos, end = _HEADER.size, n - _CRC.size
    for i in range(n_sections):
        if end - pos < _SECTION.size:
            raise BlobFormatError(
                f"the header says {n_sections} sections; section {i + 1}'s header runs past the end"
            )
        kind, reserved, size = _SECTION.unpack_from(data, pos)
        pos += _SECTION.size
        if kind not in _KIND_NAMES or kind in found or reserved != 0:
            raise BlobFormatError(f"unknown, repeated or malformed section (kind {kind})")
        if size > end - pos:
            raise BlobFormatError(f"{_KIND_NAMES[kind]} section runs past the end")
        r = _Reader(data, pos, pos + size, _KIND_NAMES[kind])
        readers = {PREFERENCE: _read_preference, PRM: _read_prm, POLICY: _read_policy}
        if kind in (PRM_SUCCESS, PRM_PREFERENCE):
            found[kind] = _read_prm_head(r, found.get(PRM))
        else:
            found[kind] = readers.get(kind, _read_shaping)(r)
        if r.pos != r.end:
            raise BlobFormatError(f"{r.what} section: {r.end - r.pos} bytes left over")
        pos = r.end
    if pos != end:
        raise BlobFormatError(f"{end - pos} stray bytes after the last section")
    gamma, scale = found.get(SHAPING, (None, None))
    prm = None
    if PRM in found:
        extra = {n: found[k] for n, k in _PRM_HEAD_KINDS.items() if k in found}
        prm = H.check_prm_head({**found[PRM], **extra})
    return Blob(
        preference=H.check_preference_head(found[PREFERENCE]) if PREFERENCE in found else None,
        prm=prm,
        gamma=gamma,
        scale=scale,
        policy=H.check_policy_head(found[POLICY]) if POLICY in found else None,
    )


def _read_shaping(r: _Reader) -> tuple[float, float]:
    return H.check_shaping(r.f64(), r.f64())


def read_blob(path: str | os.PathLike[str]) -> Blob:
    """Reads and validates a ``.rpe`` file.

    Raises:
        FileNotFoundError: if there is no such file.
        BlobFormatError: naming the file and the problem.
    """
    return decode_blob(read_blob_bytes(path), str(path))


def read_blob_bytes(path: str | os.PathLike[str]) -> bytes:
    """The raw bytes of a blob file, refusing files beyond the format's size limit."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BLOB_BYTES:
        raise BlobFormatError(f"{path}: {size} bytes, more than an RPE blob may have")
    return path.read_bytes()
