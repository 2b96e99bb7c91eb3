"""all-MiniLM-L6-v2 in Python MLX (mlx.core / mlx.nn): the same encoder as
mlx_workloads::bert (BERT embeddings + LayerNorm, 6 post-norm layers with
fused attention under a padding mask and exact-erf GELU, mean pooling over
the real tokens, L2 normalization), loaded strictly from the same
model.safetensors, with the Hugging Face `tokenizers` package for tokens.
Used by rag_query.py as the Python MLX side of the comparison.
"""
import json
import os

import mlx.core as mx
import mlx.nn as nn

MAX_TOKENS = 256
UNUSED = {"pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids"}


class Layer(nn.Module):
    def __init__(self, h, heads, inter, eps):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        self.attn_out = nn.Linear(h, h)
        self.attn_norm = nn.LayerNorm(h, eps=eps)
        self.intermediate = nn.Linear(h, inter)
        self.output = nn.Linear(inter, h)
        self.out_norm = nn.LayerNorm(h, eps=eps)

    def split(self, x):
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, -1).transpose(0, 2, 1, 3)

    def __call__(self, x, keep):
        b, n, h = x.shape
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scale = (h // self.heads) ** -0.5
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=keep)
        o = o.transpose(0, 2, 1, 3).reshape(b, n, h)
        a = self.attn_norm(self.attn_out(o) + x)
        f = self.output(nn.gelu(self.intermediate(a)))
        return self.out_norm(f + a)


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        eps = c["layer_norm_eps"]
        self.word = nn.Embedding(c["vocab_size"], h)
        self.position = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type = nn.Embedding(c["type_vocab_size"], h)
        self.norm = nn.LayerNorm(h, eps=eps)
        self.layers = [Layer(h, c["num_attention_heads"], c["intermediate_size"], eps)
                       for _ in range(c["num_hidden_layers"])]

    def __call__(self, ids, mask):
        n = ids.shape[1]
        x = self.word(ids) + self.position.weight[:n] + self.token_type.weight[0]
        x = self.norm(x)
        keep = mask.astype(mx.bool_)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, keep)
        m = mask.astype(mx.float32)[..., None]
        pooled = (x.astype(mx.float32) * m).sum(axis=1) / mx.maximum(m.sum(axis=1), 1e-9)
        norm = mx.sqrt((pooled * pooled).sum(axis=-1, keepdims=True))
        return pooled / mx.maximum(norm, 1e-12)


def hf_name(name):
    """Our parameter name -> the checkpoint's."""
    pairs = [("word.", "embeddings.word_embeddings."), ("position.", "embeddings.position_embeddings."),
             ("token_type.", "embeddings.token_type_embeddings."), ("norm.", "embeddings.LayerNorm.")]
    if name.startswith("layers."):
        _, i, rest = name.split(".", 2)
        sub = {"query": "attention.self.query", "key": "attention.self.key",
               "value": "attention.self.value", "attn_out": "attention.output.dense",
               "attn_norm": "attention.output.LayerNorm", "intermediate": "intermediate.dense",
               "output": "output.dense", "out_norm": "output.LayerNorm"}
        mod, leaf = rest.split(".", 1)
        return f"encoder.layer.{i}.{sub[mod]}.{leaf}"
    for ours, theirs in pairs:
        if name.startswith(ours):
            return theirs + name[len(ours):]
    raise KeyError(name)


def load(model_dir, dtype=mx.float32):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    model = Bert(config)
    weights = mx.load(os.path.join(model_dir, "model.safetensors"))
    ours = dict(nn.utils.tree_flatten(model.parameters()))
    mapped = {hf_name(k): k for k in ours}
    extra = set(weights) - set(mapped) - UNUSED
    missing = set(mapped) - set(weights)
    if extra or missing:
        raise ValueError(f"checkpoint mismatch: extra {sorted(extra)}, missing {sorted(missing)}")
    model.load_weights([(mapped[k], weights[k].astype(dtype)) for k in mapped])
    mx.eval(model.parameters())
    return model


def tokenizer(model_dir):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def tokenize(tok, texts):
    """(ids, mask) int32 [B, L], padded to the longest; over-long is an error."""
    encs = tok.encode_batch(texts)
    lens = [len(e.ids) for e in encs]
    if max(lens) > MAX_TOKENS:
        raise ValueError(f"a query has {max(lens)} tokens; the model takes {MAX_TOKENS}")
    n = max(lens)
    ids = [e.ids + [0] * (n - len(e.ids)) for e in encs]
    mask = [[1] * k + [0] * (n - k) for k in lens]
    return mx.array(ids, dtype=mx.int32), mx.array(mask, dtype=mx.int32)
