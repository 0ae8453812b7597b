"Shared pytest fixtures: offline environment, the mini-MIAS folder, a fresh cache per test."
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
MIAS = Path(os.environ.get("RADLLM_MIAS", ROOT.parent / "shared" / "data" / "mini-mias"))


@pytest.fixture
def mias_dir() -> Path:
    "The real mini-MIAS folder (../shared/data/mini-mias); tests using it skip where it is absent."
    if not (MIAS / "Info.txt").is_file():
        pytest.skip(f"mini-MIAS data not found at {MIAS} (set RADLLM_MIAS to its folder)")
    return MIAS


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    "Every test gets its own empty cache folder."
    monkeypatch.setenv("RADLLM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"
