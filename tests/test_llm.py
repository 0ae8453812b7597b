"""The local language model against the REAL llama.cpp server (xllamacpp, SmolLM2-135M): the server's safety (loopback,
key, log, stop), the chat describer through it, the knowledge arms in `radllm run`. A few lesions, few tokens."""
import json
from pathlib import Path

import numpy as np
import openai
import pandas as pd
import pytest

from radllm.llm import LocalChatServer, chat_server, file_sha256, model_file
from radllm.prompting import RULE_FEATURES, make_describer

from helpers import radllm
SMOLLM2 = "local:smollm2"


def test_server_listens_on_loopback_requires_its_key_and_stops():
    with LocalChatServer(SMOLLM2) as server:
        assert server.address.startswith("http://127.0.0.1:")
        assert server.api_key and server.api_key not in " ".join(server.process.args)   # the key is not on argv
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0).models.list()
        assert server.client().models.list().data                    # with its key it answers
        proc, log = server.process, server.log_path
        assert log.is_file()
    assert proc.poll() is not None and not log.exists()               # stopped; its log removed


def test_a_server_that_cannot_start_shows_its_log_and_keeps_it(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"this is not a GGUF file" * 100)
    server = LocalChatServer(f"gguf:{bad}", start_timeout=60)
    with pytest.raises(RuntimeError, match="local chat server .* exited; its log") as e:
        server.start()
    assert server.process is None and server.log_path.is_file()
    assert "gguf" in str(e.value).lower()                               # llama.cpp's own words about the file
    server.log_path.unlink()


def lesions(n=3, seed=0) -> pd.DataFrame:
    "A few lesions with the features the rules describer reads (values in the synthetic set's range)."
    rng = np.random.default_rng(seed)
    cols = [c for v in RULE_FEATURES.values() for c in v]
    X = pd.DataFrame(rng.uniform(0.5, 1.5, (n, len(cols))) * 50, columns=cols, index=[f"L{i}" for i in range(n)])
    X["original_shape2D_Sphericity"] = rng.uniform(0.5, 0.95, n)
    return X


def test_chat_describer_writes_findings_through_the_real_local_server(tmp_path):
    X = lesions(2)
    describer = make_describer("chat:local:smollm2").set_params(cache_dir=str(tmp_path / "a"), max_tokens=8)
    texts = describer.fit(X).transform(X)
    assert len(texts) == 2 and all(isinstance(t, str) and t.strip() for t in texts)
    assert describer.transform(X) == texts                               # from the cache
    again = describer.set_params(cache_dir=str(tmp_path / "b")).fit(X).transform(X)
    assert again == texts                                               # a fresh cache: same text (temperature 0)
    assert len(chat_server(SMOLLM2).log_path.read_text()) > 0


def test_an_unknown_local_chat_model_is_refused_by_name():
    with pytest.raises(ValueError, match="expected 'local:NAME'"):
        make_describer("chat:local:llama-70b")


# One `radllm run` of SmolLM2 in every role that needs the decoder (zero-shot, prior, LoRA: a single short epoch, the
# tests below look at the run, not at what LoRA learns; that is test_lora_on_smollm2_can_overfit_a_small_batch's)
DECODER_RUN = ("arms: [radiomics, zeroshot, prior, lora]\nserializer: names_values\nn_features: 4\nn_splits: 3\n"
               "ablations: []\nn_permutations: 0\nlora: {base: local:smollm2, epochs: 1, batch_size: 8}\n")


@pytest.fixture(scope="module")
def decoder_run(tmp_path_factory, converted_models) -> dict:
    """metrics.json of one `radllm run` (synthetic:36, seed 0) with SmolLM2's zero-shot, prior and LoRA arms; its cache
    holds the session's converted models (conftest.py)."""
    base = tmp_path_factory.mktemp("decoder")
    (base / "cache").mkdir()
    (base / "cache" / "models").symlink_to(converted_models, target_is_directory=True)
    (base / "decoder.yaml").write_text(DECODER_RUN)
    r = radllm("run", "--dataset", "synthetic:36", "--seeds", "0", "--out", base / "runs", "--config",
               base / "decoder.yaml", "--cache-dir", base / "cache")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads((base / "runs" / "synthetic36" / "seed0" / "metrics.json").read_text())


def test_knowledge_arms_run_end_to_end_and_metrics_name_the_model_file(decoder_run):
    m = decoder_run
    assert {"radiomics", "zeroshot", "prior"} <= set(m["arms"])
    assert 0 <= m["arms"]["zeroshot"]["auc"]["value"] <= 1
    rec = m["config"]["models"]["zeroshot"]
    assert rec["file"] == model_file(SMOLLM2).name and rec["sha256"] == file_sha256(model_file(SMOLLM2))


def test_the_llm_demo_config_runs_the_bundled_decoder_in_its_quick_roles():
    "`make demo-llm`'s config is valid and puts SmolLM2 in the zero-shot, prior and embedding roles, LoRA left out."
    from radllm.config import RunConfig
    from radllm.runs import config_problems
    cfg = RunConfig.from_yaml(Path(__file__).resolve().parents[1] / "nbs" / "experiments" / "demo_llm.yaml")
    assert config_problems(cfg) == []
    assert {"zeroshot", "prior", "text"} <= set(cfg.arms) and "lora" not in cfg.arms
    assert cfg.embedder == "local:smollm2"


# --- issue #20 items 1 and 4: the decoder itself, read by transformers and fine-tuned with LoRA ----------------------
def test_lora_on_smollm2_can_overfit_a_small_batch():
    "The paper's method on a LLaMA-architecture model: a head on the last token, LoRA on q/v; it learns 12 texts."
    from radllm.finetune import LoraClassifier
    texts = [f"Lesion {i}: irregular mass, spiculated margins, high density" if i % 2 else
             f"Lesion {i}: oval mass, circumscribed margins, low density" for i in range(16)]
    y = np.arange(16) % 2
    m = LoraClassifier(base="local:smollm2", epochs=4, batch_size=8, val_fraction=0.25, patience=4, seed=0)
    m.fit(texts, y)
    assert type(m.model_.base_model.model).__name__ == "LlamaForSequenceClassification"
    losses = [h["train_loss"] for h in m.history_]
    assert losses[-1] < 0.1 * losses[0], losses
    p = m.predict_proba(texts)[:, 1]
    assert (p[y == 1].min() > 0.9) and (p[y == 0].max() < 0.1), p.round(3)


def test_the_decoder_embeds_mean_pooled_and_tells_findings_apart(isolated_cache):
    "local:smollm2 as an embedder: the decoder's last hidden states, mean-pooled (576-d), cached like any embedder."
    from radllm.embedding import HFEmbedder, get_embedder
    emb = get_embedder("local:smollm2", cache_dir=isolated_cache, progress=False)
    assert isinstance(emb, HFEmbedder) and emb.pooling == "mean"
    V = emb.embed(["Irregular mass with spiculated margins.", "Irregular mass with spiculated margins.",
                   "Oval mass with circumscribed margins."])
    assert V.shape == (3, 576) and np.allclose(V[0], V[1]) and not np.allclose(V[0], V[2])


def test_lora_arm_trains_smollm2_in_radllm_run_and_metrics_name_its_file(decoder_run):
    m = decoder_run
    assert 0 <= m["arms"]["lora"]["auc"]["value"] <= 1
    rec = m["config"]["models"]["lora"]
    assert rec["file"] == model_file(SMOLLM2).name and rec["sha256"] == file_sha256(model_file(SMOLLM2))
