"""Benchmark: prompts per second through radllm.embedding on this machine's CPU cores (2 here).

Measures, on the same radiomics-style prompts:
  (0) plain baseline: SentenceTransformer.encode on the bundled all-MiniLM-L6-v2, no cache;
  (1) `local:minilm` cold: every prompt goes to the model and is written to the cache;
  (2) `local:minilm` from the cache: a fresh embedder on the same cache (no model call);
  (3) `openai:all-MiniLM-L6-v2` through a real loopback OpenAI-compatible server (infinity-emb, `make infinity`).
Prints times, prompts/s and ratios. Target: a cache hit is >= 100x faster than a model call (exit 1 if not met,
or if vectors disagree: cosine < 0.999 between paths).
"""
import os, sys, tempfile, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np
import torch

from radllm.testing import SERVED_NAME, infinity_missing_reason, start_infinity, stop_process
from radllm.embedding import get_embedder

FEATURES = ["GLCM cluster shade", "GLCM contrast", "first-order entropy", "first-order skewness", "shape elongation",
            "shape perimeter-to-surface ratio", "GLSZM zone entropy", "NGTDM coarseness"]


def prompts(n: int, seed: int = 0) -> list[str]:
    "Prompts like the `names_values` serializer's: 8 feature names with values and the task (~110 tokens each)."
    rng = np.random.default_rng(seed)
    return [" ".join(f"The {f} is {v:.4g}." for f, v in zip(FEATURES, rng.normal(0, 10, len(FEATURES))))
            + " Classify this breast lesion on mammography as benign or malignant." for _ in range(n)]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def cosmin(a, b): return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def main(n: int = 512, n_server: int = 256) -> int:
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    texts = prompts(n)
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        t_load, emb = timed(lambda: get_embedder("local:minilm", cache_dir=Path(tmp) / "a", progress=False))
        t_load2, model = timed(lambda: emb.model)                       # load once, outside the timed calls
        model.encode(texts[:8])                                         # warm-up
        plain_texts = prompts(n, seed=1)                                # other prompts: equally long, not cached
        t_plain, ref = timed(lambda: model.encode(plain_texts, batch_size=32, convert_to_numpy=True))
        t_cold, v_cold = timed(lambda: emb.embed(texts))
        hits = []
        for _ in range(5):
            fresh = get_embedder("local:minilm", cache_dir=Path(tmp) / "a", progress=False)
            t, v_hit = timed(lambda: fresh.embed(texts))
            hits.append(t)
            assert fresh.n_model_calls == 0 and np.array_equal(v_hit, v_cold)
        t_hit = float(np.median(hits))
        rows += [("plain SentenceTransformer.encode (no cache)", t_plain, n),
                 ("radllm local:minilm, cold (model + cache write)", t_cold, n),
                 ("radllm local:minilm, from the cache (median of 5)", t_hit, n)]

        server = None
        reason = infinity_missing_reason()
        if reason is None:
            proc, url = start_infinity(Path(tmp) / "infinity.log")
            try:
                os.environ["OPENAI_BASE_URL"] = url
                remote = get_embedder(f"openai:{SERVED_NAME}", cache_dir=Path(tmp) / "b", batch_size=32, progress=False)
                remote.embed(texts[:8])                                 # warm-up (and one cached batch)
                t_srv, v_srv = timed(lambda: remote.embed(texts[8:8 + n_server]))
                server = (t_srv, n_server, cosmin(v_srv, v_cold[8:8 + n_server]))
                rows.append(("radllm openai: via loopback infinity server", t_srv, n_server))
            finally:
                stop_process(proc)

    print(f"embedding benchmark: {n} radiomics prompts (~110 tokens), all-MiniLM-L6-v2, "
          f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f} (other work on the machine slows every row)")
    print(f"  model load: {t_load + t_load2:.2f} s (fingerprint {t_load:.2f} s)")
    for name, t, k in rows:
        print(f"  {name:<52}: {t:8.3f} s  {k / t:10.1f} prompts/s")
    print(f"  radllm cold vs plain encode             : {t_plain / n / (t_cold / n):6.2f}x  (cache bookkeeping "
          "overhead "
          f"{100 * (t_cold / t_plain - 1):+.1f} %)")
    ratio = (t_cold / n) / (t_hit / n)
    print(f"  cache hit vs model call (per prompt)    : {ratio:8.0f}x faster  (target >= 100x: "
          f"{'met' if ratio >= 100 else 'NOT met'})")
    ok &= ratio >= 100
    if server:
        t_srv, k, c = server
        print(f"  loopback server vs local model call     : {(t_cold / n) / (t_srv / k):6.2f}x the local rate; "
              f"min cosine to local vectors {c:.6f} (target >= 0.999)")
        ok &= c >= 0.999
    else:
        print(f"  loopback server: skipped ({reason})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
