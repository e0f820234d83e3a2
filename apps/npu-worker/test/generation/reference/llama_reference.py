"""Reference forward pass of the generated Llama-style decoder, in numpy float64, from the weights stored in the
.onnx file (read with onnx.numpy_helper by their Hugging Face Llama names, stored [in, out]) and the dimensions
in config.json. The graph itself is not interpreted: the computation is written here from the Llama
architecture (RMSNorm, rotary embeddings with rotate_half, grouped-query causal attention, SwiGLU MLP), so a
wrong node in the generated graph shows up as a mismatch. Every sequence runs alone from position 0, without
a cache or padding, so the engine's cache, padding and masks are checked too.

Command line: one JSON request on stdin, {"model": PATH, "config": PATH, "sequences": [[ids...], ...]}; one JSON
answer on stdout, {"logits": [[[float * vocab] * len(seq)] * len(sequences)]}.
"""

import json
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def rms_norm(x, weight, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * weight


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def silu(x):
    return x / (1.0 + np.exp(-x))


class LlamaReference:
    def __init__(self, model_path, config_path):
        model = onnx.load(model_path)
        self.w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
        with open(config_path, encoding="utf8") as f:
            c = json.load(f)
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c["num_key_value_heads"]
        self.head_dim = c["head_dim"]
        self.eps = c["rms_norm_eps"]
        self.theta = c["rope_theta"]

    def rotary(self, x, positions):
        # x: [heads, n, d]; HF rotate_half: first half and second half of each head's vector.
        half = self.head_dim // 2
        inv_freq = self.theta ** (-np.arange(half, dtype=np.float64) * 2.0 / self.head_dim)
        angles = np.outer(positions, inv_freq)  # [n, half]
        cos = np.concatenate([np.cos(angles), np.cos(angles)], axis=-1)
        sin = np.concatenate([np.sin(angles), np.sin(angles)], axis=-1)
        rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return x * cos + rotated * sin

    def logits(self, ids):
        w = self.w
        n = len(ids)
        d = self.head_dim
        group = self.heads // self.kv_heads
        positions = np.arange(n, dtype=np.float64)
        causal = np.tril(np.ones((n, n), dtype=bool))
        x = w["model.embed_tokens.weight"][np.asarray(ids)]
        for layer in range(self.layers):
            p = f"model.layers.{layer}"
            h = rms_norm(x, w[p + ".input_layernorm.weight"], self.eps)
            q = (h @ w[p + ".self_attn.q_proj.weight"]).reshape(n, self.heads, d).transpose(1, 0, 2)
            k = (h @ w[p + ".self_attn.k_proj.weight"]).reshape(n, self.kv_heads, d).transpose(1, 0, 2)
            v = (h @ w[p + ".self_attn.v_proj.weight"]).reshape(n, self.kv_heads, d).transpose(1, 0, 2)
            q = self.rotary(q, positions)
            k = self.rotary(k, positions)
            # repeat_kv: query head i reads key/value head i // group.
            k = np.repeat(k, group, axis=0)
            v = np.repeat(v, group, axis=0)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            scores = np.where(causal, scores, -np.inf)
            context = (softmax(scores) @ v).transpose(1, 0, 2).reshape(n, self.heads * d)
            x = x + context @ w[p + ".self_attn.o_proj.weight"]
            h = rms_norm(x, w[p + ".post_attention_layernorm.weight"], self.eps)
            gate = h @ w[p + ".mlp.gate_proj.weight"]
            up = h @ w[p + ".mlp.up_proj.weight"]
            x = x + (silu(gate) * up) @ w[p + ".mlp.down_proj.weight"]
        x = rms_norm(x, w["model.norm.weight"], self.eps)
        return x @ w["lm_head.weight"] + w["lm_head.bias"]


def main():
    request = json.load(sys.stdin)
    reference = LlamaReference(request["model"], request["config"])
    answer = {"logits": [reference.logits(ids).tolist() for ids in request["sequences"]]}
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
