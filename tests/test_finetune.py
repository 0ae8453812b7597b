("LoraClassifier (radllm.finetune): learning, determinism, persistence, sklearn API, grouped inner split, a decoder "
 "architecture (the mini-MIAS timing is in bench/bench_lora.py).")
import pickle, re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from radllm.finetune import LoraClassifier, inner_split



def toy(n: int, seed: int = 0):
    "Short reports whose margin word carries the label (malignant: irregular/spiculated); the numbers are noise."
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    words = {0: ["round", "circumscribed"], 1: ["irregular", "spiculated"]}
    texts = [f"The lesion margin is {rng.choice(words[c])}. The GLCM contrast is {rng.normal(10, 3):.2f}. "
             f"The mean intensity is {rng.normal(140, 20):.1f}." for c in y]
    return texts, y


@pytest.fixture(scope="module")
def fitted():
    texts, y = toy(48)
    clf = LoraClassifier(epochs=4, seed=0).fit(texts[:36], y[:36])
    return clf, texts, y


def test_learns_planted_signal(fitted):
    clf, texts, y = fitted
    p = clf.predict_proba(texts[36:])
    assert p.shape == (12, 2) and np.allclose(p.sum(1), 1)
    auc = roc_auc_score(y[36:], p[:, 1])
    print(f"planted-signal held-out AUC {auc:.3f} (best epoch {clf.best_epoch_} of {len(clf.history_)})")
    assert auc >= 0.8
    assert set(clf.predict(texts[36:])) <= {0, 1}
    d = clf.decision_function(texts[36:])
    assert np.array_equal(d > 0, p[:, 1] > 0.5)


def test_string_labels_and_classes_order():
    texts, y = toy(20, seed=1)
    labels = np.where(y == 1, "malignant", "benign")
    clf = LoraClassifier(epochs=1, val_fraction=0).fit(texts, labels)
    assert list(clf.classes_) == ["benign", "malignant"] and clf.predict_proba(texts).shape == (20, 2)
    assert set(clf.predict(texts)) <= {"benign", "malignant"}
    with pytest.raises(ValueError, match="binary"):
        LoraClassifier().fit(texts[:3], [0, 1, 2])


def test_same_seed_same_probabilities_and_caller_rng_untouched():
    texts, y = toy(24, seed=2)
    fit = lambda seed: LoraClassifier(epochs=2, seed=seed).fit(texts[:18], y[:18]).predict_proba(texts[18:])
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = fit(0)
    after = torch.rand(1)
    assert torch.equal(after, expected), "fit changed the caller's torch random state"
    b = fit(0)
    assert np.array_equal(a, b), f"same seed, different probabilities: max diff {np.abs(a - b).max()}"
    assert not np.array_equal(a, fit(1)), "a different seed should give a different model"


def test_save_load_round_trip(fitted, tmp_path):
    clf, texts, _ = fitted
    clf.save(tmp_path / "model")
    names = {p.name for p in (tmp_path / "model").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "radllm_lora.json"} <= names
    assert sum(p.stat().st_size for p in (tmp_path / "model").iterdir()) < 5e6   # adapter + head, not the base model
    again = LoraClassifier.load(tmp_path / "model")
    assert np.array_equal(again.predict_proba(texts), clf.predict_proba(texts))
    assert again.get_params() == clf.get_params() and again.best_epoch_ == clf.best_epoch_
    copy = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(copy.predict_proba(texts[:5]), clf.predict_proba(texts[:5]))
    with pytest.raises(FileNotFoundError, match="radllm_lora.json"):
        LoraClassifier.load(tmp_path)


def test_sklearn_clone_and_params(fitted):
    clf, _, _ = fitted
    params = clf.get_params()
    assert params["base"] == "local:minilm" and params["r"] == 8 and params["epochs"] == 4
    c = clone(clf)
    assert c.get_params() == params and not hasattr(c, "model_")
    c.set_params(r=4, learning_rate=5e-4)
    assert c.get_params()["r"] == 4 and clf.get_params()["r"] == 8
    with pytest.raises(AttributeError, match="not fitted"):
        c.predict_proba(["a text"])


def test_inner_split_keeps_groups_apart():
    rng = np.random.default_rng(0)
    for seed in range(5):
        groups = rng.integers(0, 25, 80)
        y = rng.integers(0, 2, 80)
        tr, va = inner_split(y, groups, 0.2, seed)
        assert len(va) and not set(groups[tr]) & set(groups[va]) and len(tr) + len(va) == 80
    texts, y = toy(40, seed=3)
    groups = np.repeat(np.arange(10), 4)   # 4 lesions per "patient"
    clf = LoraClassifier(epochs=1, seed=0).fit(texts, y, groups=groups)
    assert len(clf.val_index_) and not set(groups[clf.train_index_]) & set(groups[clf.val_index_])
    assert sorted(np.r_[clf.train_index_, clf.val_index_]) == list(range(40))
    with pytest.raises(ValueError, match="groups"):
        inner_split(y[:6], np.array([0, 0, 0, 1, 1, 1]), 0.2)


def test_missing_base_model_folder_is_named(tmp_path):
    missing = tmp_path / "Llama-2-7b-hf"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        LoraClassifier(base=f"hf:{missing}", epochs=1, val_fraction=0).fit(["a", "b"], [0, 1])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        LoraClassifier(base=str(tmp_path / "empty"), epochs=1, val_fraction=0).fit(["a", "b"], [0, 1])


# --- a decoder (LLaMA architecture) through the same code path: hf:PATH, pad token, q_proj/v_proj, the `score` head --

@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    "A LLaMA-architecture folder with random weights and a word-level tokenizer without a padding token (made here)."
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    d = tmp_path_factory.mktemp("tiny-llama")
    words = ("<unk> </s> the lesion margin is round circumscribed irregular spiculated glcm contrast mean intensity . "
             + " ".join(map(str, range(200)))).split()
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.normalizer, tk.pre_tokenizer = normalizers.Lowercase(), pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", eos_token="</s>").save_pretrained(d)
    cfg = LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(d)
    return d


def test_llama_like_folder(tiny_llama, tmp_path):
    texts, y = toy(32, seed=4)
    clf = LoraClassifier(base=f"hf:{tiny_llama}", r=4, epochs=2, seed=0).fit(texts[:24], y[:24])
    assert clf.tokenizer_.pad_token == "</s>" and clf.model_.config.pad_token_id == clf.tokenizer_.eos_token_id
    assert set(clf.model_.peft_config["default"].target_modules) == {"q_proj", "v_proj"}
    assert any("score" in n for n, p in clf.model_.named_parameters() if p.requires_grad)
    p = clf.predict_proba(texts[24:])
    assert p.shape == (8, 2) and np.isfinite(p).all()
    again = LoraClassifier.load(clf.save(tmp_path / "m"))
    assert np.array_equal(again.predict_proba(texts[24:]), p)


# --- LoraBagClassifier: LoRA on per-feature sentences ---------------------------------------------------------------

def toy_bags(n: int, seed: int = 0):
    "Bags of two features; the first one's level carries the label (mostly), the second is noise."
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    levels = ["low", "medium", "high"]
    bags = []
    for c in y:
        k = (2 if c else 0) if rng.random() < 0.8 else 1
        bags.append([(0, f"The margin irregularity is {levels[k]}.", 1.0),
                     (1, f"The mean intensity is {levels[rng.integers(3)]}.", 1.0)])
    return bags, y


def test_bag_lora_learns_is_reproducible_and_keeps_its_curves():
    from radllm.finetune import LoraBagClassifier
    bags, y = toy_bags(60)
    groups = np.arange(60) // 2
    fit = lambda: LoraBagClassifier(learning_rates=(3e-4,), max_steps=10,
                                    seed=0).fit(bags[:44], y[:44], groups=groups[:44])
    a, b = fit(), fit()
    p = a.predict_proba(bags[44:])[:, 1]
    assert roc_auc_score(y[44:], p) > 0.8 and np.array_equal(p, b.predict_proba(bags[44:])[:, 1])
    h = pd.DataFrame(a.history_)
    assert h.step.iloc[0] == 0 and h.step.max() <= 10 and {"train_loss", "train_auc", "val_auc"} <= set(h.columns)
    assert a.steps_ in set(h.step) and a.validation_predictions_[0].shape == a.validation_predictions_[1].shape
    assert clone(a).get_params()["learning_rates"] == (3e-4,)
