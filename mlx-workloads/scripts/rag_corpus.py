"""Builds the RAG corpus from text that exists offline: the docstrings of
Python's standard library, one passage per documented public function, class
or method, plus query/passage pairs for recall@10.

usage: python3 rag_corpus.py OUT_DIR [MAX_QUERIES]

Writes OUT_DIR/corpus.jsonl ({"id", "name", "text"} per line),
OUT_DIR/queries.jsonl ({"query", "passage_id"}) and OUT_DIR/meta.json.

A pair's query is the summary line of a docstring; its passage is the
qualified name followed by the rest of that docstring (the summary removed,
so the query is not a substring of its passage). Docstrings without a
usable summary and body are still passages, without a query. The result
depends on the Python version (recorded in meta.json); the order is
deterministic for one version.
"""
import contextlib
import hashlib
import importlib
import inspect
import io
import json
import os
import pkgutil
import sys
import warnings

# GUI, side effects on import, or test suites rather than library code.
SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test",
        "lib2to3", "pydoc_data", "ensurepip", "venv", "__phello__", "__hello__"}
MIN_BODY = 60


def quiet_import(name):
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except BaseException:  # some modules exist only on other platforms
            return None


def modules():
    """Public standard-library modules and the public submodules of its packages."""
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in SKIP:
            continue
        mod = quiet_import(name)
        if mod is None:
            continue
        yield name, mod
        if hasattr(mod, "__path__"):
            subs = pkgutil.walk_packages(mod.__path__, prefix=name + ".", onerror=lambda _: None)
            for sub in sorted(s.name for s in subs):
                parts = sub.split(".")
                if any(p.startswith("_") or p in ("test", "tests") for p in parts):
                    continue
                sub_mod = quiet_import(sub)
                if sub_mod is not None:
                    yield sub, sub_mod


def defined_here(obj, mod_name):
    """Defined in this module, or in a private (C) module it re-exports."""
    owner = getattr(obj, "__module__", None) or ""
    return owner == mod_name or owner.startswith("_") or owner in ("posix", "nt")


def documented(mod_name, mod):
    """(qualified name, docstring) for public functions, classes and methods
    defined in the module itself."""
    for name, obj in sorted(vars(mod).items()):
        if name.startswith("_") or not defined_here(obj, mod_name):
            continue
        if inspect.isfunction(obj) or inspect.isbuiltin(obj):
            yield f"{mod_name}.{name}", inspect.getdoc(obj)
        elif inspect.isclass(obj):
            yield f"{mod_name}.{name}", inspect.getdoc(obj)
            for mname, meth in sorted(vars(obj).items()):
                if mname.startswith("_") or not callable(meth):
                    continue
                yield f"{mod_name}.{name}.{mname}", inspect.getdoc(meth)


def split_summary(doc):
    """(summary line, body) when the docstring has both, else (None, doc)."""
    parts = doc.strip().split("\n\n", 1)
    summary = " ".join(parts[0].split())
    body = parts[1].strip() if len(parts) > 1 else ""
    words = len(summary.split())
    if 4 <= words <= 30 and len(body) >= MIN_BODY:
        return summary, body
    return None, doc.strip()


def main():
    out_dir = sys.argv[1]
    max_queries = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    os.makedirs(out_dir, exist_ok=True)
    seen, corpus, pairs = set(), [], []
    for mod_name, mod in modules():
        for qual, doc in documented(mod_name, mod):
            if not doc or len(doc.strip()) < 40 or doc in seen:
                continue
            seen.add(doc)
            summary, body = split_summary(doc)
            pid = len(corpus)
            corpus.append({"id": pid, "name": qual, "text": f"{qual}: {body}"})
            if summary is not None:
                pairs.append({"query": summary, "passage_id": pid})
    # A deterministic sample of the pairs, spread over the whole library.
    pairs.sort(key=lambda p: hashlib.sha256(p["query"].encode()).hexdigest())
    pairs = sorted(pairs[:max_queries], key=lambda p: p["passage_id"])
    with open(os.path.join(out_dir, "corpus.jsonl"), "w") as f:
        for p in corpus:
            f.write(json.dumps(p) + "\n")
    with open(os.path.join(out_dir, "queries.jsonl"), "w") as f:
        for p in pairs:
            f.write(json.dumps(p) + "\n")
    meta = {"python": sys.version.split()[0], "passages": len(corpus), "queries": len(pairs)}
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
