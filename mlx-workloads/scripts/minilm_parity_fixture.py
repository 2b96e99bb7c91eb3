"""Writes the parity fixture of the MiniLM encoder: 100 real sentences from
the RAG corpus (queries and passages of mixed lengths, some longer than 128
and some longer than 256 tokens), their token ids and their f32 embeddings,
computed by sentence-transformers (PyTorch, CPU) from the same model files
the Rust side fetches.

usage: HF_HUB_OFFLINE=1 python3 minilm_parity_fixture.py MODEL_DIR CORPUS_DIR OUT
  MODEL_DIR   holds model.safetensors, config.json and tokenizer.json
              (mlx_workloads::minilm::fetch puts them in ~/.cache/mlx-rs/minilm)
  CORPUS_DIR  written by rag_corpus.py (~/.cache/mlx-rs/rag/stdlib)
  OUT         a .safetensors file: tensor "embeddings" [100, 384] f32, and
              metadata "sentences" and "ids" (JSON lists)

Needs `pip install torch sentence-transformers`. The pipeline is spelled out
(Transformer with max_seq_length 256, mean pooling, Normalize), the modules
all-MiniLM-L6-v2 declares, since the model folder has no modules.json. Every
sentence is truncated to 256 tokens as a passage is.
"""
import hashlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from sentence_transformers import SentenceTransformer, models  # noqa: E402

MAX_SEQ = 256


def load_model(model_dir):
    word = models.Transformer(model_dir, max_seq_length=MAX_SEQ)
    pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[word, pool, models.Normalize()], device="cpu")


def pick(corpus_dir, tokenizer):
    """40 queries and 60 passages: 20 under 64 tokens, 20 of 129-256, 20
    over 256 (cut to at most 2,000 characters, still over 256 tokens)."""
    def key(text):
        return hashlib.sha256(text.encode()).hexdigest()

    with open(os.path.join(corpus_dir, "queries.jsonl")) as f:
        queries = sorted((json.loads(l)["query"] for l in f if l.strip()), key=key)
    with open(os.path.join(corpus_dir, "corpus.jsonl")) as f:
        passages = sorted((json.loads(l)["text"] for l in f if l.strip()), key=key)
    ntok = lambda t: len(tokenizer(t, truncation=False)["input_ids"])  # noqa: E731
    short, mid, long = [], [], []
    for p in passages:
        n = ntok(p)
        if n < 64 and len(short) < 20:
            short.append(p)
        elif 128 < n <= MAX_SEQ and len(mid) < 20:
            mid.append(p)
        elif n > MAX_SEQ + 8 and len(long) < 20:
            cut = p[:2000]
            if ntok(cut) > MAX_SEQ:
                long.append(cut)
        if len(short) == len(mid) == len(long) == 20:
            break
    return queries[:40] + short + mid + long


def main():
    model_dir, corpus_dir, out = sys.argv[1:4]
    torch.manual_seed(0)
    model = load_model(model_dir)
    tokenizer = model.tokenizer
    sentences = pick(corpus_dir, tokenizer)
    assert len(sentences) == 100, len(sentences)
    feats = model.tokenize(sentences)
    ids = []
    for row, mask in zip(feats["input_ids"].tolist(), feats["attention_mask"].tolist()):
        ids.append(row[: sum(mask)])
    with torch.no_grad():
        emb = model.encode(sentences, batch_size=16, convert_to_numpy=True)
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    import sentence_transformers
    import transformers
    meta = {
        "sentences": json.dumps(sentences),
        "ids": json.dumps(ids),
        "made_by": "mlx-workloads/scripts/minilm_parity_fixture.py",
        "versions": json.dumps({
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        }),
    }
    save_file({"embeddings": emb}, out, metadata=meta)
    lens = [len(i) for i in ids]
    print(json.dumps({"sentences": len(sentences), "tokens_min": min(lens),
                      "tokens_max": max(lens), "over_128": sum(n > 128 for n in lens),
                      "truncated_to_256": sum(n == MAX_SEQ for n in lens)}))


if __name__ == "__main__":
    main()
