"""Every chapter's own tests: each notebook of nbs/ run as `nbdev_test` runs it (cells flagged `notest` or `slow`
skipped), one pytest test per notebook. `make test` runs them in the same pytest session as the rest, so one scheduler
keeps both test workers busy: run apart, chapter 08's LoRA cells kept one worker going for two minutes while the
other waited."""
import pytest
from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev import test as nbdev_tests            # its test_nb, not collected as a test here

CONFIG = get_config()
NOTEBOOKS = [f.absolute() for f in sorted(nbglob(as_path=True)) if nbdev_tests._keep_file(f, ".notest")]


def test_every_chapter_is_collected():
    names = {f.name for f in NOTEBOOKS}
    assert {"00_config.ipynb", "08_finetune.ipynb", "12_study.ipynb", "index.ipynb"} <= names, sorted(names)
    assert not any("experiments" in f.parts for f in NOTEBOOKS)      # the papermill templates are run by their tests


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda f: f.stem)
def test_notebook(notebook):
    passed, _ = nbdev_tests.test_nb(notebook, skip_flags=CONFIG.tst_flags.split(), basepath=CONFIG.config_path)
    assert passed, f"{notebook.name}: a cell failed; its traceback is in the captured stderr above"
