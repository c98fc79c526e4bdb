"""Helpers of the batch tests (a module of its own: every test folder's conftest is "conftest")."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from _helpers_root import root_conftest  # tests/ is on the path (its conftest.py)

from riskmodel.scoring.output import read_scores as read_scores  # the batch tests' reader of scores files

build_trained_home = root_conftest().build_trained_home


@dataclass(frozen=True)
class Month:
    """A month's releases as the synthetic process makes them (typed, as in Parquet)."""

    releases: pd.DataFrame

    def write(self, path: Path, frame: pd.DataFrame | None = None) -> Path:
        """Write releases as CSV (ISO dates) or Parquet, by the path's suffix."""
        frame = self.releases if frame is None else frame
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".csv":
            frame.to_csv(path, index=False, date_format="%Y-%m-%d", float_format="%.10g", lineterminator="\n")
        else:
            frame.to_parquet(path, index=False)
        return path


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the text a CSV export would hold (blank for unknown)."""
    out = frame.copy()
    out["release_date"] = out["release_date"].dt.strftime("%Y-%m-%d")
    return out.astype(object).where(out.notna(), "").astype(str)


@contextlib.contextmanager
def score_process(env: dict[str, str], source: Path, output: Path) -> Iterator[subprocess.Popen]:
    """``riskmodel score`` running in a subprocess (killed at the end of the block if still running)."""
    command = [sys.executable, "-m", "riskmodel.cli", "score", "--input", str(source), "--output", str(output)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(path: Path, process: subprocess.Popen, *, seconds: float, poll: float) -> bool:
    """Whether ``path`` appeared before ``process`` ended or ``seconds`` passed (looking every ``poll`` s)."""
    deadline = time.monotonic() + seconds
    while not path.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(poll)
    return path.exists()


def hidden_files(folder: Path) -> list[str]:
    """Temporary or partial files left in a folder (their names start with a dot)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


#: (row position, {column: bad text}, [(column, words of the reason)]).
BAD_CELLS = [
    (2, {"sex": "X"}, [("sex", "must be M or F")]),
    (5, {"age_at_release": "abc"}, [("age_at_release", "not a number")]),
    (9, {"release_id": ""}, [("release_id", "required value is blank")]),
    (14, {"release_id": "<row 0>"}, [("release_id", "duplicate release_id")]),
    (
        20,
        {"previous_sanctions": "-1", "previous_violent_sanctions": "0", "index_offence": "shoplifting"},
        [
            ("index_offence", "not one of the 20 OGRS3 offence groups"),
            ("previous_sanctions", "must be >= 0"),
            ("previous_violent_sanctions", "must be 0 <= x <= previous_sanctions"),
        ],
    ),
    (33, {"needs_family": "maybe"}, [("needs_family", "not a boolean")]),
    (47, {"release_date": "2021-02-30"}, [("release_date", "not an ISO 8601 date")]),
]


def bad_month(month, n: int = 60) -> pd.DataFrame:
    """The first ``n`` releases as text, with :data:`BAD_CELLS` written in."""
    frame = as_text(month.releases.head(n)).reset_index(drop=True)
    for position, cells, _ in BAD_CELLS:
        for column, value in cells.items():
            frame.loc[position, column] = frame.loc[0, "release_id"] if value == "<row 0>" else value
    return frame


def write_text(frame: pd.DataFrame, path):
    """Write text cells as CSV or as a Parquet file of strings."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, lineterminator="\n")
    else:
        frame.to_parquet(path, index=False)
    return path


def shifted(releases: pd.DataFrame) -> pd.DataFrame:
    """Older people (+15 years) with three times the previous sanctions."""
    out = releases.loc[releases["age_at_release"] <= 85].copy()
    for column in ("age_at_release", "age_at_index_conviction"):
        out[column] = out[column] + 15
    out["previous_sanctions"] = out["previous_sanctions"] * 3
    return out


# --------------------------------------------------------------------------- HTML

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


@dataclass
class Element:
    """A parsed HTML element: tag, attributes, children (elements and text)."""

    tag: str
    attrs: dict[str, str]
    children: list

    def text(self) -> str:
        """All text inside, whitespace collapsed."""
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str, **attrs) -> list[Element]:
        """Descendants with this tag (and class, given as ``class_``), in document order."""
        wanted = attrs.get("class_")
        out = []
        for child in self.children:
            if isinstance(child, Element):
                classes = child.attrs.get("class", "").split()
                if child.tag == tag and (wanted is None or wanted in classes):
                    out.append(child)
                out.extend(child.find_all(tag, **attrs))
        return out

    def rows(self) -> list[list[Element]]:
        """A table's rows as lists of cells (th or td)."""
        return [
            [c for c in tr.children if isinstance(c, Element) and c.tag in ("td", "th")] for tr in self.find_all("tr")
        ]


def parse_html(text: str) -> Element:
    """Parse HTML into :class:`Element` (enough for the report: no error recovery)."""
    from html.parser import HTMLParser

    root = Element("document", {}, [])

    class Parser(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.stack = [root]

        def handle_starttag(self, tag, attrs):
            element = Element(tag, {k: v or "" for k, v in attrs}, [])
            self.stack[-1].children.append(element)
            if tag not in _VOID:
                self.stack.append(element)

        def handle_endtag(self, tag):
            if tag in _VOID:
                return
            assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
            self.stack.pop()

        def handle_data(self, data):
            self.stack[-1].children.append(data)

    parser = Parser()
    parser.feed(text)
    parser.close()
    assert parser.stack == [root], "unclosed elements"
    return root
