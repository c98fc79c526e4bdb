"""The suite's own sorting of tests into kinds (tests/conftest.py): ``-m "not slow"`` must leave
out every test that trains or starts a server, and only those."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from _helpers_root import root_conftest

ROOT = Path(__file__).resolve().parents[2]


class FakeItem:
    """What the hook reads of a collected test: its fixtures, its file, and its marks."""

    def __init__(self, path: str, *fixtures: str):
        self.path, self.fixturenames, self.marks = ROOT / path, list(fixtures), set()

    def add_marker(self, mark):
        self.marks.add(mark.name)


def marks_of(*items: FakeItem) -> list[set[str]]:
    root_conftest().pytest_collection_modifyitems(SimpleNamespace(rootpath=ROOT), list(items))
    return [item.marks for item in items]


def test_a_test_using_a_training_fixture_even_through_another_is_slow():
    # pytest lists a fixture's own fixtures among the test's (``champions`` -> ``batch_home``)
    assert marks_of(FakeItem("tests/batch/test_x.py", "champions", "batch_home", "tmp_path")) == [{"slow"}]


def test_a_test_starting_a_server_is_server_and_slow():
    assert marks_of(FakeItem("tests/service/test_x.py", "serve", "tmp_path_factory")) == [{"server", "slow"}]


def test_a_test_in_a_slow_file_is_slow_whatever_it_uses():
    assert marks_of(
        FakeItem("tests/training/test_train_cli.py", "tmp_path"), FakeItem("tests/notebooks/test_x.py")
    ) == [{"slow"}, {"slow"}]


def test_a_test_of_plain_values_is_left_in_the_quick_loop():
    assert marks_of(FakeItem("tests/unit/test_x.py", "tmp_path", "make_releases", "monkeypatch")) == [set()]


@pytest.mark.parametrize("name", sorted(root_conftest().TRAINING_FIXTURES | root_conftest().SERVER_FIXTURES))
def test_every_fixture_named_in_the_hook_is_still_defined(name):
    # A renamed fixture would silently put its tests back in the quick loop.
    sources = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "tests").rglob("*.py"))

    assert re.search(rf"^def {name}\(", sources, re.MULTILINE), (
        f"no fixture {name!r} in tests/: update tests/conftest.py"
    )


@pytest.mark.parametrize("path", root_conftest().SLOW_PATHS)
def test_every_slow_path_still_exists(path):
    assert (ROOT / path).exists()
