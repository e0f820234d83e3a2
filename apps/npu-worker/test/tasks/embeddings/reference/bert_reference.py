"""Reference forward pass of the generated BERT-like encoder, in numpy float64, from the weights stored in the
.onnx file (read with onnx.numpy_helper by their Hugging Face BERT names). The graph itself is not
interpreted: the computation is written here from the BERT architecture, so a wrong node in the generated
graph shows up as a mismatch. Each sentence runs alone at its own length, without padding, so the pipeline's
padding and attention mask are checked too.
"""

import math

import numpy as np
import onnx
from onnx import numpy_helper

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class BertReference:
    """`hidden_states(ids)` -> [len(ids), hidden]; `embed(ids, pooling, normalize)` -> [hidden]."""

    def __init__(self, model_path, heads, eps):
        model = onnx.load(model_path)
        self.w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
        self.heads = heads
        self.eps = eps
        self.layers = 0
        while f"encoder.layer.{self.layers}.attention.self.query.weight" in self.w:
            self.layers += 1
        if self.layers == 0:
            raise ValueError(f"{model_path}: no encoder.layer.0 weights")

    def linear(self, x, name):
        return x @ self.w[name + ".weight"] + self.w[name + ".bias"]

    def ln(self, x, name):
        return layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def hidden_states(self, ids):
        w = self.w
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][np.asarray(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
            + w["embeddings.position_embeddings.weight"][:n]
        )
        x = self.ln(x, "embeddings.LayerNorm")
        hidden = x.shape[1]
        size = hidden // self.heads
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}"

            def heads_of(t):
                return t.reshape(n, self.heads, size).transpose(1, 0, 2)  # [heads, n, size]

            q = heads_of(self.linear(x, p + ".attention.self.query"))
            k = heads_of(self.linear(x, p + ".attention.self.key"))
            v = heads_of(self.linear(x, p + ".attention.self.value"))
            probs = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(size))
            context = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
            x = self.ln(self.linear(context, p + ".attention.output.dense") + x, p + ".attention.output.LayerNorm")
            inner = gelu(self.linear(x, p + ".intermediate.dense"))
            x = self.ln(self.linear(inner, p + ".output.dense") + x, p + ".output.LayerNorm")
        return x

    def embed(self, ids, pooling, normalize):
        states = self.hidden_states(ids)
        vector = states[0] if pooling == "cls" else states.mean(axis=0)
        if normalize:
            vector = vector / max(np.linalg.norm(vector), 1e-12)
        return vector
