"""radllm.embedding against real parts: the bundled MiniLM, and a real OpenAI-compatible server (infinity-emb)
started on 127.0.0.1 serving it, behind a fault-injecting loopback proxy."""
import os, pickle, signal, subprocess, sys, textwrap, time

import numpy as np
import pytest

from radllm.config import ContentCache
from radllm.embedding import EmbeddingError, TextEmbedder, get_embedder, minilm_path

from radllm.testing import SERVED_NAME, FaultProxy, free_port, infinity_missing_reason, start_infinity, stop_process

SECRET = "sk-test-SECRET"
SPEC = f"openai:{SERVED_NAME}"
TEXTS = [f"Lesion finding {i}: the GLCM cluster shade is {i * 1.7:.1f} and the mass is "
         f"{['round', 'oval', 'irregular'][i % 3]} with {['circumscribed', 'indistinct', 'spiculated'][i % 3]} margins."
         for i in range(40)]


def cos(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


@pytest.fixture(scope="module")
def local_vectors(tmp_path_factory):
    return get_embedder("local:minilm", cache_dir=tmp_path_factory.mktemp("ref"), progress=False).embed(TEXTS)


# ---------------------------------------------------------------- local models

def test_minilm_shape_semantics_and_cache(tmp_path):
    texts = ["Irregular mass with spiculated margins.", "A spiculated irregular mass.",
             "The weather is sunny and warm today."]
    e = get_embedder("local:minilm", cache_dir=tmp_path, progress=False)
    v = e.embed(texts + [texts[0]])
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert e.n_model_texts == 3                                        # the duplicate was embedded once
    s = v @ v.T
    assert s[0, 1] > s[0, 2] + 0.3 and s[0, 1] > s[1, 2] + 0.3          # related texts closer than unrelated
    again = get_embedder("local:minilm", cache_dir=tmp_path, progress=False)
    assert np.array_equal(again.embed(texts), v[:3]) and again.n_model_calls == 0
    third = get_embedder("local:minilm", cache_dir=tmp_path, progress=False)
    third.embed(texts + ["A new text."])
    assert third.n_model_texts == 1                                    # only the missing text is computed
    assert len(ContentCache("embeddings", tmp_path)) == 4


def test_local_truncation_is_reported(tmp_path):
    e = get_embedder("local:minilm", cache_dir=tmp_path, progress=False)
    with pytest.warns(UserWarning, match=r"2 of 3 texts were longer than the model's 256-token window"):
        e.embed(["short", "word " * 300, "mass " * 400])


def test_hf_mean_pooling_agrees_with_sentence_transformers(tmp_path, local_vectors):
    hf = get_embedder(f"hf:{minilm_path()}", cache_dir=tmp_path, pooling="mean", batch_size=7, progress=False)
    v = hf.embed(TEXTS)
    assert v.shape == (40, 384) and hf.n_model_calls == 6
    assert cos(v, local_vectors).min() > 0.99
    last = get_embedder(f"hf:{minilm_path()}", cache_dir=tmp_path, pooling="last", progress=False).embed(TEXTS[:3])
    assert last.shape == (3, 384) and cos(last, v[:3]).max() < 0.99    # a different pooling, a different vector
    short = get_embedder(f"hf:{minilm_path()}", cache_dir=tmp_path, max_length=16, progress=False)
    with pytest.warns(UserWarning, match=r"1 of 2 texts were longer than the model's 16-token window"):
        short.embed(["a mass", TEXTS[0]])
    with pytest.raises(ValueError, match="pooling 'max'"):
        get_embedder(f"hf:{minilm_path()}", pooling="max")


def test_text_embedder_is_a_cheap_picklable_sklearn_transformer(tmp_path):
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    te = TextEmbedder(cache_dir=str(tmp_path))
    x = te.fit_transform(TEXTS[:6])
    assert x.shape == (6, 384)
    blob = pickle.dumps(te)
    assert len(blob) < 2000                                            # no model inside
    assert np.array_equal(pickle.loads(blob).transform(TEXTS[:6]), x)
    assert clone(te).get_params() == te.get_params() == {"spec": "local:minilm", "cache_dir": str(tmp_path),
                                                         "batch_size": None, "options": None}
    y = [i % 3 == 2 for i in range(12)]
    pipe = make_pipeline(TextEmbedder(cache_dir=str(tmp_path)), LogisticRegression(C=100)).fit(TEXTS[:12], y)
    assert (pipe.predict(TEXTS[:12]) == y).mean() > 0.9


def test_bad_specs_and_folders(tmp_path):
    with pytest.raises(ValueError, match="expected local:minilm"): get_embedder("minilm")
    with pytest.raises(FileNotFoundError, match="does not exist"): get_embedder(f"local:{tmp_path}/nope")
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model folder"): get_embedder(f"hf:{tmp_path}")


# ---------------------------------------------------------------- the OpenAI path against a real server

@pytest.fixture(scope="module")
def infinity(tmp_path_factory):
    reason = infinity_missing_reason()
    if reason: pytest.skip(reason)
    log = tmp_path_factory.mktemp("infinity") / "infinity.log"
    proc, url = start_infinity(log)
    yield url
    stop_process(proc)


@pytest.fixture
def proxy(infinity, monkeypatch):
    with FaultProxy(infinity) as p:
        monkeypatch.setenv("OPENAI_BASE_URL", p.url)
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield p


def fast(**kw):
    "Small timeouts and retries, so a fault test takes seconds."
    return {"timeout": 5.0, "max_retries": 2, "backoff": 0.05, "max_backoff": 0.2, "progress": False} | kw


def test_openai_vectors_equal_local(proxy, tmp_path, local_vectors):
    e = get_embedder(SPEC, cache_dir=tmp_path, batch_size=16, **fast())
    v = e.embed(TEXTS)
    assert v.shape == (40, 384) and v.dtype == np.float32
    assert cos(v, local_vectors).min() >= 0.999
    assert proxy.batch_sizes == [16, 16, 8] and proxy.texts_forwarded == 40
    assert proxy.auth_headers == {f"Bearer {SECRET}"}                  # the SDK took the key from the environment
    assert e.model_id == f"openai:{proxy.url}:{SERVED_NAME}"
    again = get_embedder(SPEC, cache_dir=tmp_path, **fast())
    assert np.array_equal(again.embed(TEXTS), v) and proxy.requests == 3   # all from the cache


def test_server_down_fails_quickly_naming_the_endpoint(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    e = get_embedder(SPEC, cache_dir=tmp_path, **fast())
    t = time.monotonic()
    with pytest.raises(EmbeddingError) as err: e.embed(["a mass"])
    assert time.monotonic() - t < 30                                   # a hang guard, not a benchmark
    msg = str(err.value)
    assert f"http://127.0.0.1:{port}/v1" in msg and "connection" in msg and "3 attempts" in msg and SECRET not in msg
    assert e.n_requests == 3


@pytest.mark.parametrize("fault", ["http:429", "http:503", "http:500", "drop"])
def test_transient_fault_then_success(proxy, tmp_path, local_vectors, fault):
    proxy.reset(fault)
    e = get_embedder(SPEC, cache_dir=tmp_path, batch_size=64, **fast())
    v = e.embed(TEXTS[:5])
    assert proxy.requests == 2 and e.n_requests == 2 and proxy.texts_forwarded == 5
    assert cos(v, local_vectors[:5]).min() >= 0.999


def test_persistent_429_gives_up_with_a_clear_error(proxy, tmp_path):
    proxy.reset("http:429", "http:429", "http:429")
    e = get_embedder(SPEC, cache_dir=tmp_path, **fast())
    with pytest.raises(EmbeddingError, match=r"HTTP 429.*gave up after 3 attempts") as err: e.embed(["a mass"])
    assert proxy.url in str(err.value) and proxy.requests == 3


def test_non_retryable_error_is_not_retried(proxy, tmp_path):
    proxy.reset("http:401")
    e = get_embedder(SPEC, cache_dir=tmp_path, **fast())
    with pytest.raises(EmbeddingError, match="HTTP 401") as err: e.embed(["a mass"])
    assert proxy.requests == 1 and proxy.url in str(err.value) and SECRET not in str(err.value)


def test_slow_answer_times_out_then_retry_succeeds_or_clear_error(proxy, tmp_path, local_vectors):
    proxy.reset("slow:6")                                  # first answer arrives after the client's 2 s timeout
    e = get_embedder(SPEC, cache_dir=tmp_path, **fast(timeout=2.0))
    v = e.embed(TEXTS[:3])
    assert cos(v, local_vectors[:3]).min() >= 0.999 and proxy.requests == 2 and e.n_requests == 2
    proxy.reset("slow:6", "slow:6")
    e = get_embedder(SPEC, cache_dir=tmp_path, **fast(timeout=2.0, max_retries=1))
    with pytest.raises(EmbeddingError, match=r"no answer within the 2 s timeout; gave up after 2 attempts") as err:
        e.embed(["a text not in the cache"])
    assert proxy.url in str(err.value)


def test_413_splits_the_batch(proxy, tmp_path, local_vectors):
    proxy.reset()
    proxy.max_inputs = 5
    e = get_embedder(SPEC, cache_dir=tmp_path, batch_size=16, **fast())
    v = e.embed(TEXTS[:16])
    assert cos(v, local_vectors[:16]).min() >= 0.999
    assert proxy.batch_sizes == [16, 8, 4, 4, 8, 4, 4] and proxy.texts_forwarded == 16   # 413s, then halves


KILLED_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from test_embedding import TEXTS, SPEC
    from radllm.embedding import get_embedder
    get_embedder(SPEC, cache_dir=sys.argv[1], batch_size=4, timeout=60, progress=False).embed(TEXTS[:24])
    print("finished")
""")


def test_killed_run_resumes_paying_only_for_the_missing(proxy, tmp_path, local_vectors):
    proxy.reset(None, None, None, "hang")                  # batches 1-3 are answered, batch 4 hangs
    run = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path), os.path.dirname(__file__)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while proxy.requests < 4 and time.monotonic() < deadline and run.poll() is None: time.sleep(0.05)
    assert proxy.requests == 4, run.communicate()[0].decode()[-2000:] if run.poll() is not None else "no 4th request"
    os.kill(run.pid, signal.SIGKILL)                        # killed in the middle of the run
    out = run.communicate()[0].decode()
    proxy.release()
    assert run.returncode == -signal.SIGKILL and "finished" not in out and SECRET not in out
    assert len(ContentCache("embeddings", tmp_path)) == 12   # the three finished batches survived the kill
    proxy.reset()
    e = get_embedder(SPEC, cache_dir=tmp_path, batch_size=4, **fast())
    v = e.embed(TEXTS[:24])
    assert e.n_model_texts == 12 and proxy.texts_forwarded == 12 and proxy.requests == 3
    assert cos(v, local_vectors[:24]).min() >= 0.999


CONCURRENT_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from test_embedding import TEXTS, SPEC
    from radllm.embedding import get_embedder
    lo, hi = int(sys.argv[3]), int(sys.argv[4])
    get_embedder(SPEC, cache_dir=sys.argv[1], batch_size=2, progress=False).embed(TEXTS[lo:hi])
""")


def test_concurrent_writers_share_the_cache(proxy, tmp_path, local_vectors):
    proxy.reset()
    runs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_RUN, str(tmp_path), os.path.dirname(__file__), lo, hi],
                             env=os.environ.copy()) for lo, hi in (("0", "30"), ("10", "40"))]
    assert [r.wait(120) for r in runs] == [0, 0]
    assert len(ContentCache("embeddings", tmp_path)) == 40
    e = get_embedder(SPEC, cache_dir=tmp_path, progress=False)
    assert cos(e.embed(TEXTS), local_vectors).min() >= 0.999 and e.n_model_calls == 0


def test_the_key_reaches_no_file_and_no_output(proxy, tmp_path, capfd):
    proxy.reset("http:429")
    e = get_embedder(SPEC, cache_dir=tmp_path, **fast(progress=True))
    e.embed(TEXTS[:5])
    proxy.reset("http:401")
    with pytest.raises(EmbeddingError) as err: e.embed(["something new"])
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)
    assert SECRET.encode() not in pickle.dumps(e) and SECRET.encode() not in pickle.dumps(TextEmbedder(spec=SPEC))
    assert SECRET not in repr(e) and SECRET not in e.model_id
    out, errout = capfd.readouterr()
    assert SECRET not in out + errout
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "embeddings.sqlite" for p in files)
    for p in files: assert SECRET.encode() not in p.read_bytes(), p


# ---------------------------------------------------------------- an endpoint that never answers (#18 class 9)

class _SilentServer:
    "A server on 127.0.0.1 that accepts every connection and never answers (a hung endpoint), in a thread."
    def __enter__(self):
        import socket, threading
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url, self.conns = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1", []
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while True:
            try: self.conns.append(self.sock.accept()[0])
            except OSError: return

    def __exit__(self, *exc):
        self.sock.close()
        for c in self.conns: c.close()


class _Timed:
    "A stderr that keeps each line with the time it was written."
    def __init__(self): self.lines, self.t0 = [], time.monotonic()
    def write(self, text):
        self.lines += [(time.monotonic() - self.t0, l) for l in text.splitlines() if l.strip()]
        return len(text)
    def flush(self): pass


def test_an_endpoint_that_never_answers_says_each_retry_as_it_happens(tmp_path, monkeypatch):
    timed = _Timed()
    with _SilentServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        monkeypatch.setattr(sys, "stderr", timed)
        e = get_embedder(SPEC, cache_dir=tmp_path, **fast(timeout=1.0, max_retries=2))
        with pytest.raises(EmbeddingError) as err: e.embed(["a mass"])
        ended = time.monotonic() - timed.t0
    assert str(err.value) == (f"embedding endpoint {server.url} (model '{SERVED_NAME}'): no answer within the 1 s "
                              "timeout; gave up after 3 attempts")
    retries = [(t, l) for t, l in timed.lines if "retry" in l]
    assert [l.split(", retry ")[1].split(" in ")[0] for _, l in retries] == ["1 of 2", "2 of 2"], timed.lines
    for _, line in retries:
        assert line.startswith(f"embeddings endpoint {server.url}: no answer within the 1 s timeout, retry ")
        assert SECRET not in line
    # each line is written when its retry is decided: about 1 s (one timeout) apart, the first well before the end
    assert 0.9 <= retries[0][0] < ended - 1.5 and retries[1][0] - retries[0][0] >= 0.9, (retries, ended)


def test_a_chat_endpoint_that_never_answers_says_each_retry_and_its_timeout_is_a_setting(tmp_path, monkeypatch):
    "The chat describer as the embedder: a line per retry as it happens; request_timeout (RunConfig) reaches it."
    from radllm.fusion import findings_steps
    import pandas as pd
    timed = _Timed()
    X = pd.DataFrame({"original_shape2D_Elongation": [0.5]}, index=["L1"])
    with _SilentServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        monkeypatch.setattr(sys, "stderr", timed)
        describer = dict(findings_steps("openai:m", "names_values", tmp_path, request_timeout=1))["findings"].describer
        describer.max_retries = 2
        with pytest.raises(RuntimeError) as err: describer.fit(X).transform(X)
    assert str(err.value) == (f"chat endpoint {server.url}/ (model 'm') failed after 3 attempts: no answer within "
                              "the 1 s timeout")
    retries = [(t, l) for t, l in timed.lines if "retry" in l]
    assert [l.split(", retry ")[1].split(" in ")[0] for _, l in retries] == ["1 of 2", "2 of 2"], timed.lines
    assert all(l.startswith(f"chat endpoint {server.url}/ (model 'm'): no answer within the 1 s timeout")
               and SECRET not in l for _, l in retries)
    assert retries[1][0] - retries[0][0] >= 0.9                     # said when decided: one timeout apart
