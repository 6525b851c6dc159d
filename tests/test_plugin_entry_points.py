"""Entry points read from the metadata directories agree with importlib.metadata, or fall back to it."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import logging
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sls_access.plugin import NAME
from sls_access.plugin import _entry_points as entry_points_module
from sls_access.plugin._entry_points import EntryPoint, entry_points, scan

Row = tuple[str, str, str | None, str | None]


def _rows(eps: Iterable[EntryPoint]) -> list[Row]:
    return [(ep.name, ep.value, ep.distribution, ep.version) for ep in eps]


def _importlib_rows(group: str) -> list[Row]:
    importlib.invalidate_caches()
    return [(ep.name, ep.value, ep.dist.metadata["Name"] if ep.dist else None, ep.dist.version if ep.dist else None)
            for ep in importlib.metadata.entry_points(group=group)]


def _dist(where: Path, directory: str, *, name: str, version: str = "1.0", entry_points: str | None = None,
          metadata_file: str = "METADATA") -> Path:
    info = where / directory
    info.mkdir(parents=True)
    (info / metadata_file).write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nbody\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)
    return info


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two site directories of fake distributions, alone on sys.path."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    monkeypatch.setattr(sys, "path", [str(first), str(second), str(tmp_path / "missing"), ""])
    monkeypatch.chdir(tmp_path / "first")
    return first, second


def test_scan_agrees_with_importlib_metadata_on_a_tree_of_distributions(tree: tuple[Path, Path]) -> None:
    first, second = tree
    # Two entry points, in an order that is not alphabetical; comments, blanks, another group.
    _dist(first, "alpha_plugin-1.0.dist-info", name="alpha-plugin",
          entry_points="# comment\n[console_scripts]\nalpha = alpha:main\n\n[sls_access]\n  zeta = zeta_mod \n"
                       "alpha = alpha_mod:Plugin.inner\n")
    # The same distribution later on sys.path, under another spelling: the first one wins.
    _dist(second, "Alpha.Plugin-2.0.dist-info", name="Alpha.Plugin", version="2.0",
          entry_points="[sls_access]\nshadowed = shadowed_mod\n")
    # An egg-info directory (PKG-INFO), a distribution without entry points, odd names.
    _dist(second, "Legacy_Thing-0.3-py3.11.egg-info", name="Legacy-Thing", version="0.3",
          metadata_file="PKG-INFO", entry_points="[sls_access]\nlegacy=legacy.mod:obj\n")
    _dist(first, "no_entry_points-1.0.dist-info", name="no-entry-points")
    _dist(second, "odd___name..x-9.dist-info", name="odd___name..x", version="9",
          entry_points="[[sls_access]]\nodd = odd\n[sls_access.other]\nnot_ours = nope\n")
    # An egg-info that is a file (distutils), and a directory that is not metadata.
    (first / "single_file-1.0.egg-info").write_text("Metadata-Version: 1.0\nName: single-file\nVersion: 1.0\n")
    (first / "package").mkdir()

    scanned = _rows(scan(NAME))

    assert scanned == _importlib_rows(NAME)
    assert scanned[:2] == [("zeta", "zeta_mod", "alpha-plugin", "1.0"),
                           ("alpha", "alpha_mod:Plugin.inner", "alpha-plugin", "1.0")]
    assert sorted(scanned[2:]) == [("legacy", "legacy.mod:obj", "Legacy-Thing", "0.3"),
                                   ("odd", "odd", "odd___name..x", "9")]


def test_scan_keeps_the_first_occurrence_of_a_distribution_on_sys_path(tree: tuple[Path, Path]) -> None:
    first, second = tree
    _dist(first, "dup-1.0.dist-info", name="dup", entry_points="[sls_access]\nfirst = first_mod\n")
    _dist(second, "Dup-2.0.dist-info", name="Dup", version="2.0", entry_points="[sls_access]\nsecond = second_mod\n")

    assert _rows(scan(NAME)) == [("first", "first_mod", "dup", "1.0")]


def test_scan_reads_the_current_directory_for_an_empty_sys_path_entry(tree: tuple[Path, Path]) -> None:
    first, _ = tree
    sys.path[:] = [""]
    _dist(first, "here-1.0.dist-info", name="here", entry_points="[sls_access]\nhere = here_mod\n")

    assert _rows(scan(NAME)) == _importlib_rows(NAME) == [("here", "here_mod", "here", "1.0")]


def test_a_zip_on_sys_path_falls_back_to_importlib_metadata(
    tree: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        zf.writestr("zipped-1.0.dist-info/entry_points.txt", "[sls_access]\nzipped = zipped_mod\n")
    sys.path.append(str(archive))

    with pytest.raises(entry_points_module._Unreadable, match=r"plugins\.zip"):
        scan(NAME)
    with caplog.at_level(logging.DEBUG, logger="sls_access.plugins"):
        assert _rows(entry_points(NAME)) == [("zipped", "zipped_mod", "zipped", "1.0")]
    assert "read by importlib.metadata" in caplog.text


def test_a_finder_that_provides_distributions_falls_back_to_importlib_metadata(
    tree: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    _dist(elsewhere, "hidden-1.0.dist-info", name="hidden", entry_points="[sls_access]\nhidden = hidden_mod\n")

    class Finder:
        """A meta path finder that provides distributions from a directory not on sys.path."""

        @staticmethod
        def find_spec(*_: object) -> None:
            return None

        @staticmethod
        def find_distributions(context: object = None) -> Iterable[importlib.metadata.Distribution]:
            return [importlib.metadata.PathDistribution(elsewhere / "hidden-1.0.dist-info")]

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder])

    with pytest.raises(entry_points_module._Unreadable, match="provides distributions"):
        scan(NAME)
    assert _rows(entry_points(NAME)) == [("hidden", "hidden_mod", "hidden", "1.0")]


def test_without_the_standard_path_finder_importlib_metadata_answers(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, _ = tree
    _dist(first, "unseen-1.0.dist-info", name="unseen", entry_points="[sls_access]\nunseen = unseen_mod\n")
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if f is not importlib.machinery.PathFinder])

    with pytest.raises(entry_points_module._Unreadable, match="PathFinder"):
        scan(NAME)
    assert _rows(entry_points(NAME)) == _importlib_rows(NAME)


@pytest.mark.parametrize("directory", ["Upper-1.0.DIST-INFO", ".dist-info", "-1.0.dist-info"])
def test_a_metadata_directory_importlib_metadata_names_otherwise_falls_back(
    tree: tuple[Path, Path], directory: str,
) -> None:
    first, _ = tree
    _dist(first, directory, name="upper", entry_points="[sls_access]\nupper = upper_mod\n")

    with pytest.raises(entry_points_module._Unreadable):
        scan(NAME)
    assert _rows(entry_points(NAME)) == _importlib_rows(NAME) == [("upper", "upper_mod", "upper", "1.0")]


def test_a_folded_name_header_falls_back_to_the_email_parser(tree: tuple[Path, Path]) -> None:
    first, _ = tree
    info = _dist(first, "folded-1.0.dist-info", name="folded", entry_points="[sls_access]\nfolded = folded_mod\n")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: folded\n  more\nVersion: 1.0\n")

    with pytest.raises(entry_points_module._Unreadable, match="folded name"):
        scan(NAME)
    assert _rows(entry_points(NAME)) == _importlib_rows(NAME)


def test_a_malformed_entry_points_file_fails_as_importlib_metadata_does(tree: tuple[Path, Path]) -> None:
    first, _ = tree
    _dist(first, "broken-1.0.dist-info", name="broken", entry_points="[console_scripts]\nno equals sign\n")

    with pytest.raises(Exception) as importlib_error:  # whatever importlib.metadata raises
        importlib.metadata.entry_points(group=NAME)
    with pytest.raises(importlib_error.type, match="value"):
        entry_points(NAME)


def test_load_returns_the_module_or_the_object_the_value_names() -> None:
    module = EntryPoint(name="m", value="sls_access.plugin", distribution=None, version=None)
    nested = EntryPoint(name="o", value="os : path.join", distribution=None, version=None)

    assert module.load() is sys.modules["sls_access.plugin"]
    assert nested.load() is sys.modules["os"].path.join


def test_load_refuses_a_malformed_value() -> None:
    with pytest.raises(ValueError, match="malformed entry point value"):
        EntryPoint(name="bad", value="not a module", distribution=None, version=None).load()


def test_the_installed_oidc_plugin_is_found_by_the_scan_as_importlib_metadata_finds_it() -> None:
    scanned = _rows(scan(NAME))

    assert ("oidc", "sls_access_oidc.plugin", "sls-access-oidc", importlib.metadata.version("sls-access-oidc")) \
        in scanned
    assert scanned == _importlib_rows(NAME)


_NAME_PART = st.text(alphabet="aAbB-_.1", min_size=1, max_size=6)
_DIRECTORY = st.tuples(_NAME_PART, st.sampled_from(["", "-1.0", "-2.0-py3.11"]),
                       st.sampled_from([".dist-info", ".egg-info", ".DIST-INFO", ".dist-info.bak"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.lists(st.tuples(st.booleans(), _DIRECTORY, st.booleans()), min_size=1, max_size=6))
def test_entry_points_agree_with_importlib_metadata_on_any_layout(
    layout: list[tuple[bool, tuple[str, str, str], bool]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tempfile.TemporaryDirectory() as root:
        first, second = Path(root, "first"), Path(root, "second")
        first.mkdir()
        second.mkdir()
        monkeypatch.setattr(sys, "path", [str(first), str(second)])
        for n, (on_first, (name, version, suffix), with_entry_points) in enumerate(layout):
            where = first if on_first else second
            if (where / f"{name}{version}{suffix}").exists():
                continue
            _dist(where, f"{name}{version}{suffix}", name=f"dist{n}",
                  entry_points=f"[sls_access]\nplugin{n} = module{n}\n" if with_entry_points else None)

        expected = _importlib_rows(NAME)
        try:
            scanned: list[Row] | None = _rows(scan(NAME))
        except entry_points_module._Unreadable:  # a name importlib.metadata reads from the metadata
            scanned = None

        assert _rows(entry_points(NAME)) == expected
        assert scanned is None or scanned == expected
