("Prompting: the glossary against real extractions, serializers within MiniLM's window, describers, the chat path over "
 "HTTP.")
import pickle, re, sqlite3, warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from radllm.data import feature_columns
from radllm.prompting import (DEFAULT_TASK, STYLES, ChatDescriber, PromptSerializer,
                              RulesDescriber, get_token_counter, load_glossary, make_describer, Findings)
from radllm.testing import ChatServer

ROOT = Path(__file__).resolve().parents[1]
count = get_token_counter("local:minilm")
SENTENCE = re.compile(r"(?<=\.) (?=The |Feature \d)")


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> pd.DataFrame:
    "Real pyradiomics features (102 + patient_id + label) of 40 lesions of the built-in synthetic dataset."
    from radllm.extraction import extract
    from radllm.synthetic import make_dataset
    d = tmp_path_factory.mktemp("synthetic")
    feats, qc = extract(make_dataset(d / "data", n=40, seed=0), cache_dir=d / "cache")
    assert len(feats) == 40 and len(feature_columns(feats)) == 102
    return feats


def sentences(prompt: str, task: str = DEFAULT_TASK) -> list[str]:
    assert prompt.startswith(task)
    body = prompt[len(task):].strip()
    return SENTENCE.split(body) if body else []


def split(feats, n_train=28):
    return feats.iloc[:n_train], feats.iloc[n_train:]

# --- glossary -------------------------------------------------------------------------------------------------


def test_glossary_is_package_data_with_one_row_per_default_feature():
    path = files("radllm") / "knowledge" / "feature_glossary.csv"
    assert path.is_file()
    assert "'knowledge/*.csv'" in (ROOT / "setup.py").read_text()          # shipped in wheels and sdists
    g = load_glossary()                                   # (its rows and columns: chapter 05's glossary cell)
    assert (g.short_name != "").all()
    g.loc["original_glcm_ClusterShade", "meaning"] = "changed"     # callers get a copy
    assert load_glossary().loc["original_glcm_ClusterShade", "meaning"] != "changed"


def test_every_feature_of_a_mini_mias_extraction_has_a_glossary_entry(mias_dir, tmp_path):
    from radllm.data import load_dataset
    from radllm.extraction import extract
    feats, qc = extract(load_dataset(f"mini-mias:{mias_dir}").iloc[:12], cache_dir=tmp_path)
    assert len(feats) >= 8
    assert set(feature_columns(feats)) == set(load_glossary().index)
    # and eight real mini-MIAS features serialize whole within MiniLM's window in every style
    eight = ["original_shape2D_Sphericity", "original_firstorder_Mean", "original_firstorder_Entropy",
             "original_glcm_JointEntropy", "original_glcm_ClusterShade", "original_shape2D_PerimeterSurfaceRatio",
             "original_glszm_ZoneEntropy", "original_ngtdm_Busyness"]
    for style in STYLES:
        with warnings.catch_warnings():
            warnings.simplefilter("error")                         # nothing may be dropped
            prompts = PromptSerializer(style=style).fit(feats[eight]).transform(feats[eight])
        assert max(count(p) for p in prompts) <= 256 and all(len(sentences(p)) == 8 for p in prompts)

# --- serializers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [8, 20])
@pytest.mark.parametrize("style", STYLES)
def test_each_style_fits_minilm_window(features, style, n):
    cols = feature_columns(features)[:n]
    train, test = split(features[cols])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        prompts = PromptSerializer(style=style).fit(train).transform(test)
    tokens = [count(p) for p in prompts]
    assert max(tokens) <= 256
    kept = [len(sentences(p)) for p in prompts]
    assert len(w) == (1 if min(kept) < n else 0)                  # a warning exactly when something was dropped
    if n == 8: assert kept == [8] * len(test)                     # the default selection always fits whole
    assert all(p.endswith(".") or p.endswith(")") for p in prompts)


def test_102_features_drop_least_important_and_warn_once(features):
    train, test = split(features)
    ser = PromptSerializer().fit(train)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        prompts = ser.transform(test)
    assert len(w) == 1
    msg = str(w[0].message)
    kept = [len(sentences(p)) for p in prompts]
    assert f"dropped the {102 - min(kept)} least important of 102 features" in msg
    names = [re.match(r"The (.+?) is ", s).group(1) for s in sentences(prompts[0])]
    assert names == ser.names_[:len(names)]                       # the first (most important) columns are kept
    for p in prompts:
        assert count(p) <= 256
        assert all(re.fullmatch(r"The .+ is (-?[\d.]+|not available)\.", s) for s in sentences(p))  # no cut sentence
    # and a task that cannot fit at all is an error naming the lesion
    with pytest.raises(ValueError, match=re.escape(repr(test.index[0]))):
        PromptSerializer(task="word " * 300).fit(train).transform(test)


def test_prompts_carry_no_identifiers(features):
    feats = features.copy()
    feats.index = pd.Index([f"LESION-{i:04d}-XYZ" for i in range(len(feats))], name="lesion_id")
    feats["patient_id"] = [f"PATIENT-{i:04d}-QQ" for i in range(len(feats))]
    feats["image"] = [f"/data/mammo/case{i:04d}/LCC.dcm" for i in range(len(feats))]
    feats["date"] = "2024-03-17"
    feats["birads"] = 4
    train, test = split(feats)
    for style in STYLES:
        for p in PromptSerializer(style=style, tokenizer=None).fit(train).transform(test):
            assert not re.search(r"LESION-|PATIENT-|XYZ|QQ|\.dcm|/data/|2024|BI-RADS|birads|label", p), p
            assert len(sentences(p)) == 102                      # label and birads are not features


def test_non_feature_text_columns_are_rejected_by_name(features):
    with pytest.raises(ValueError, match="scanner"):
        PromptSerializer().fit(features.assign(scanner="GE Senographe"))


def test_fit_uses_training_statistics_only(features):
    cols = ["original_shape2D_Sphericity", "original_firstorder_Mean"]
    A, B = features[cols].iloc[:20], features[cols].iloc[20:] * 1.5 + 3   # B is shifted: its own stats differ
    for style in ("zscore", "percentile", "lexicon"):
        on_a = PromptSerializer(style=style).fit(A)
        on_b = PromptSerializer(style=style).fit(B)
        assert on_a.transform(B) != on_b.transform(B)
        assert on_a.transform(B.iloc[:3]) == on_a.transform(B)[:3]     # a lesion's text does not depend on its batch
    z = (B.iloc[0, 1] - A.iloc[:, 1].mean()) / A.iloc[:, 1].std(ddof=0)
    expect = f"The mean intensity is {abs(z):.1f} SD {'above' if z > 0 else 'below'} the cohort mean."
    assert expect in PromptSerializer(style="zscore").fit(A).transform(B)[0]
    pct = (A.iloc[:, 0] < B.iloc[0, 0]).mean() * 100
    got = int(re.search(r"sphericity is at the (\d+)",
                        PromptSerializer(style="percentile").fit(A).transform(B)[0]).group(1))
    assert abs(got - pct) <= 100 / len(A) + 1


def test_missing_values_are_written_as_not_available(features):
    cols = feature_columns(features)[:8]
    train, test = split(features[cols])
    test = test.copy()
    test.iloc[0, 2] = np.nan
    test.iloc[1, 3] = np.inf
    for style in STYLES:
        p = PromptSerializer(style=style).fit(train).transform(test)
        assert "not available" in p[0] and "not available" in p[1] and not re.search(r"\b(nan|inf)\b", p[0] + p[1])


def test_task_template_and_parameters(features):
    cols = feature_columns(features)[:4]
    p = PromptSerializer(task="Read {n_features} measurements.").fit(features[cols]).transform(features[cols])[0]
    assert p.startswith("Read 4 measurements. The ")
    for bad in (dict(task="{lesion_id}"), dict(style="prose"), dict(order="random")):
        with pytest.raises(ValueError): PromptSerializer(**bad).fit(features[cols])


def test_tokenizer_callable_or_none(features):
    cols = feature_columns(features)[:20]
    words = PromptSerializer(tokenizer=str.split, max_tokens=60).fit(features[cols])
    with pytest.warns(UserWarning, match="least important"):
        assert all(len(p.split()) <= 60 for p in words.transform(features[cols]))
    free = PromptSerializer(tokenizer=None).fit(features).transform(features)
    assert len(sentences(free[0])) == 102


def test_sklearn_clone_and_pickle(features):
    cols = feature_columns(features)[:8]
    ser = PromptSerializer(style="lexicon")
    assert clone(ser).get_params()["style"] == "lexicon"
    assert isinstance(clone(Findings(describer=RulesDescriber())).describer, RulesDescriber)
    fitted = PromptSerializer(style="zscore").fit(features[cols])
    assert pickle.loads(pickle.dumps(fitted)).transform(features[cols]) == fitted.transform(features[cols])

# --- rules describer ------------------------------------------------------------------------------------------


def test_rules_describer_cutoffs_come_from_training_rows(features):
    train, test = split(features)
    rules = RulesDescriber().fit(train)
    sph = train["original_shape2D_Sphericity"]
    assert np.allclose(rules.cutoffs_["sphericity"], sph.quantile([1 / 3, 2 / 3]).to_numpy())
    assert np.allclose(rules.cutoffs_["mean_intensity"], train["original_firstorder_Mean"].quantile([1 / 3, 2 / 3]))
    words = rules.transform(test)
    pattern = (r"(Irregular|Oval|Round) mass with (circumscribed|indistinct|spiculated) margins, (low|equal|high) "
               r"density and (homogeneous|mildly heterogeneous|heterogeneous) internal texture\.")
    assert all(re.fullmatch(pattern, w) for w in words)
    low = sph.min() - 1
    t = test.copy()
    t.iloc[0, t.columns.get_loc("original_shape2D_Sphericity")] = low
    assert rules.transform(t)[0].startswith("Irregular mass")
    t.iloc[0, t.columns.get_loc("original_firstorder_Mean")] = np.nan
    assert "density not assessable" in rules.transform(t)[0]


def test_findings_come_from_the_full_table_in_every_text_arm(features):
    "describer: rules in a pipeline: the describer reads the columns the selector drops; the selector passes the text."
    from radllm.fusion import make_arm
    X, y = features[feature_columns(features)], features.label.to_numpy()
    arm = make_arm("text", selector="mrmr", n_features=2, serializer="zscore", describer="rules", tune=False)
    steps = dict(arm.steps)
    assert list(steps)[:2] == ["findings", "select"]
    upto = arm[:3].fit(X, y)
    prompts = upto.transform(X)
    # findings + 2 features
    assert all(p.count("Findings: ") == 1 and p.count(" the cohort mean.") == 2 for p in prompts)
    for name in ("concat", "lora"):
        assert [s for s,
                _ in make_arm(name, serializer="zscore", describer="rules").steps][:2] == ["findings", "select"]

# --- chat describer over real HTTP ----------------------------------------------------------------------------

KEY = "sk-test-SECRET-7f3a9c1e5b"


@pytest.fixture
def chat_env(monkeypatch):
    with ChatServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield server


def _cache_bytes(cache_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in Path(cache_dir).glob("chat.sqlite*"))


def test_chat_describer_uses_the_answer_and_caches_it(features, chat_env, tmp_path):
    train, test = split(features)
    cols = feature_columns(features)[:8]
    chat = ChatDescriber(model="openai:fixture-radiologist", cache_dir=tmp_path).fit(train[cols])
    answers = chat.transform(test[cols])
    assert chat_env.hits == len(test)
    expect = [chat_env.answer({"messages": m}) for m in chat.messages(test[cols])]
    assert answers == expect
    body = chat_env.bodies[0]
    assert body["model"] == "fixture-radiologist" and body["temperature"] == 0
    assert body["messages"][0]["role"] == "system" and "The " in body["messages"][1]["content"]
    assert test.index[0] not in body["messages"][1]["content"]
    assert chat_env.headers[0]["authorization"] == f"Bearer {KEY}"   # the key was really used ...
    assert chat.transform(test[cols]) == answers and chat_env.hits == len(test)   # ... the second pass asks nothing
    fresh = ChatDescriber(model="openai:fixture-radiologist", cache_dir=tmp_path).fit(train[cols])
    assert fresh.transform(test[cols]) == answers and chat_env.hits == len(test)  # the cache is persistent
    other = ChatDescriber(model="openai:another-model", cache_dir=tmp_path).fit(train[cols])
    other.transform(test[cols].iloc[:2])
    assert chat_env.hits == len(test) + 2  # keyed by model
    cache = _cache_bytes(tmp_path)
    assert answers[0].encode() in cache and KEY.encode() not in cache and b"SECRET" not in cache
    with sqlite3.connect(tmp_path / "chat.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM kv").fetchone()[0] == len(test) + 2
        assert all(KEY.encode() not in bytes(v) for (v,) in con.execute("SELECT v FROM kv"))


def test_chat_describer_retries_429_then_succeeds(features, chat_env, tmp_path):
    cols = feature_columns(features)[:8]
    chat_env.faults.extend([429, 503])
    chat = ChatDescriber(model="openai:fixture-radiologist", cache_dir=tmp_path, max_retries=3).fit(features[cols])
    answer = chat.transform(features[cols].iloc[:1])
    assert chat_env.hits == 3 and answer == [chat_env.answer({"messages": chat.messages(features[cols].iloc[:1])[0]})]


def test_chat_describer_gives_up_with_an_error_naming_the_endpoint(features, chat_env, tmp_path):
    cols = feature_columns(features)[:8]
    chat_env.faults.extend([500] * 5)
    chat = ChatDescriber(model="openai:fixture-radiologist", cache_dir=tmp_path, max_retries=1).fit(features[cols])
    with pytest.raises(RuntimeError, match=re.escape(chat_env.url)) as e:
        chat.transform(features[cols].iloc[:1])
    assert KEY not in str(e.value) and chat_env.hits == 2 and "500" in str(e.value)


def test_make_describer_refuses_unknown_names():
    "(What the known names make: chapter 05's make_describer cell.)"
    with pytest.raises(ValueError): make_describer("gpt")
    with pytest.raises(ValueError): ChatDescriber(model="llama3").fit(pd.DataFrame({"a": [1.0, 2.0]}))


def test_chat_describer_timeout_is_retried_then_named(features, monkeypatch, tmp_path):
    cols = feature_columns(features)[:8]
    with ChatServer(delay=1.5) as slow:
        monkeypatch.setenv("OPENAI_BASE_URL", slow.url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        chat = ChatDescriber(model="openai:m", cache_dir=tmp_path, max_retries=1, timeout=0.3).fit(features[cols])
        with pytest.raises(RuntimeError, match=re.escape(slow.url) + ".*no answer within the .* s timeout"):
            chat.transform(features[cols].iloc[:1])
        assert slow.hits == 2                                       # the first try and one retry


# --- the levels pathway: one sentence per feature ---------------------------------------------------------------

def test_sentence_bags_are_weighted_level_sentences_fitted_on_training_rows(features):
    from radllm.prompting import SentenceSerializer, LEVEL_WORDS
    cols = feature_columns(features)[:8]
    train, test = split(features[cols])
    ser = SentenceSerializer().fit(train)
    assert np.allclose(ser.centres_, np.nanquantile(train.to_numpy(float), [1 / 6, 1 / 2, 5 / 6], axis=0))
    for bag in ser.transform(test):
        w = pd.DataFrame(bag, columns=["j", "text", "w"]).groupby("j").w.sum()
        assert list(w.index) == list(range(8)) and np.allclose(w, 1)
        assert all(re.fullmatch(r"The .+ is (low|medium|high)\.", t) for _, t, _ in bag)
        assert all(count(t) <= 30 for _, t, _ in bag)
    # the levels are the training rows': a test value far above them is 'high', whatever the test fold holds
    shifted = test.copy()
    shifted.iloc[:, 0] = 1e9
    assert ser.transform(shifted)[0][0] == (0, f"The {ser.names_[0]} is high.", 1.0)
    assert set(LEVEL_WORDS[3]) == {"low", "medium", "high"}


def test_sentence_serializer_is_an_sklearn_transformer(features):
    from radllm.prompting import SentenceSerializer
    cols = feature_columns(features)[:4]
    ser = SentenceSerializer(levels=5, names="generic").fit(features[cols])
    again = pickle.loads(pickle.dumps(ser))
    assert again.transform(features[cols]) == ser.transform(features[cols])
    assert clone(ser).get_params() == {"levels": 5, "soft": True, "names": "generic", "meaning": False}
    with pytest.raises(ValueError, match="levels=6"): SentenceSerializer(levels=6).fit(features[cols])
    with pytest.raises(ValueError, match="missing"): ser.transform(features[cols[:2]])
