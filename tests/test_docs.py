"""The docs tell the truth: hooks, keys and variables documented, examples run.

Code examples: every fenced ``python`` block of every page under ``docs/`` runs, in
page order and in one namespace per page (like a doctest), against the loopback STS,
in an empty working directory that holds the demo dashboard as ``./sls-access.toml``,
trusted (``sls-access trust``). A ``toml`` block whose first line is ``# file: NAME`` is
written to ``NAME`` when it is reached (and, for a dashboard file, must load); a project
file written so is not trusted until a ``console`` block's ``$ sls-access trust`` line,
which runs (the CLI in-process) when it is reached, as the reader would run it. A block whose first line starts with
``# skip`` is not run (say why on that line). Blocks are compiled with
``from __future__ import annotations``, so signatures need not import their types.
"""

from __future__ import annotations
import __future__

import ast
import inspect
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from conftest import DEMO_DASHBOARD
from support import PluginSite

from sls_access import cli
from sls_access.dashboard import file as dashboard_file
from sls_access.dashboard.trust import trust
from sls_access.plugin import spec

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(path for path in DOCS.rglob("*.md") if "_build" not in path.parts)
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")


@attrs.frozen
class Block:
    page: Path
    line: int
    language: str
    code: str

    @property
    def first_line(self) -> str:
        return self.code.lstrip().split("\n", 1)[0].strip()

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> Iterator[Block]:
    """Yield the fenced code blocks of a Markdown page (not those nested in another fence)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        start = i + 1
        j = start
        while j < len(lines):
            closing = FENCE.match(lines[j])
            if (
                closing
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()
            ):
                break
            j += 1
        body = "\n".join(line[indent:] if not line[:indent].strip() else line.lstrip() for line in lines[start:j])
        yield Block(page, start, match["info"].strip().split(" ", 1)[0].lower(), textwrap.dedent(body))
        i = j + 1


def runnable(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.language in {"python", "py"} and not b.first_line.startswith("# skip")]


PAGES_WITH_CODE = [page for page in PAGES if runnable(page)]


def _page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


# -- examples run --------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_page_id)
def test_python_examples_run(page: Path, aws_env: Path, sts: object) -> None:
    work = Path.cwd()
    (work / "sls-access.toml").write_text(textwrap.dedent(DEMO_DASHBOARD))
    trust(work / "sls-access.toml")
    namespace: dict[str, object] = {"__name__": "docs_example"}
    flags = __future__.annotations.compiler_flag
    for block in blocks(page):
        if block.language == "toml" and block.first_line.startswith("# file:"):
            target = work / block.first_line.split(":", 1)[1].strip()
            target.write_text(block.code)
            if "[orgs." in block.code:
                dashboard_file.load_dashboard_file(target)  # the example is a valid dashboard file
            continue
        if block.language == "console":
            for line in block.code.splitlines():
                if line.startswith("$ sls-access trust"):
                    assert cli.main(shlex.split(line[2:])[1:]) == 0, f"{block}: {line}"
            continue
        if block not in runnable(page):
            continue
        code = compile(block.code, str(block), "exec", flags=flags, dont_inherit=True)
        try:
            exec(code, namespace)  # noqa: S102 - running the documentation's own examples
        except Exception as exc:
            pytest.fail(f"example at {block} raised {type(exc).__name__}: {exc}")


def test_there_are_examples_to_run() -> None:
    names = {_page_id(page) for page in PAGES_WITH_CODE}
    assert {"index.md", "tutorial/first-deploy-script.md", "how-to/write-a-plugin.md"} <= names


def test_the_demo_runs_and_prints_an_assumed_role(aws_env: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(DOCS / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"is arn:aws:sts::123456789012:assumed-role/sls-access-demo/sls-demo\.hello\.dev ", result.stdout
    ), result.stdout


# -- hooks -----------------------------------------------------------------------------


def _hookspecs() -> list[str]:
    return sorted(name for name, _ in inspect.getmembers(spec, inspect.isfunction) if name.startswith("sls_access_"))


def _signature(name: str) -> str:
    """``def name(a: T, b: U) -> R``, from the spec module's source (annotations as written)."""
    tree = ast.parse(inspect.getsource(getattr(spec, name)))
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    params = ", ".join(f"{arg.arg}: {ast.unparse(arg.annotation)}" for arg in func.args.args if arg.annotation)
    assert func.returns is not None
    return f"def {name}({params}) -> {ast.unparse(func.returns)}"


def _normalised(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\(\s+", "(", text)
    return re.sub(r",?\s*\)", ")", text)


def test_every_hookspec_is_documented_with_its_signature() -> None:
    hooks_page = _normalised((DOCS / "reference" / "hooks.md").read_text(encoding="utf-8"))
    names = _hookspecs()
    assert len(names) >= 5
    missing = [_signature(name) for name in names if _normalised(_signature(name)) not in hooks_page]
    assert missing == [], "docs/reference/hooks.md lacks these signatures"


def test_every_hookspec_has_a_typed_docstring_with_params() -> None:
    for name in _hookspecs():
        func = getattr(spec, name)
        doc = inspect.getdoc(func) or ""
        for param in inspect.signature(func).parameters:
            assert f":param {param}:" in doc, f"{name} does not document {param}"


# -- reference pages -------------------------------------------------------------------


def test_every_dashboard_file_key_is_in_the_reference() -> None:
    page = (DOCS / "reference" / "dashboard-file.md").read_text(encoding="utf-8")
    keys = {
        "orgs",
        *dashboard_file._ORG_KEYS,
        *dashboard_file._PROFILE_KEYS,
        *dashboard_file._APP_KEYS,
        *dashboard_file._STAGE_KEYS,
        *dashboard_file._REGION_KEYS,
    }
    assert sorted(key for key in keys if f"`{key}`" not in page) == []


def test_every_environment_variable_read_is_in_the_reference() -> None:
    page = (DOCS / "reference" / "environment.md").read_text(encoding="utf-8")
    sources = [*(ROOT / "sls_access").rglob("*.py"), *(ROOT / "plugins").rglob("sls_access_*/*.py")]
    found: set[str] = set()
    for source in sources:
        found |= set(
            re.findall(
                r"\b(?:SLS_ACCESS|SERVERLESS|ACTIONS_ID_TOKEN)_[A-Z_]*[A-Z]\b", source.read_text(encoding="utf-8")
            )
        )
    assert found, "no variables found: the scan is broken"
    assert sorted(var for var in found if f"`{var}`" not in page) == []


INSTALL_PAGES = [*PAGES, ROOT / "README.md", ROOT / "plugins" / "sls-access-oidc" / "README.md"]
PIP_INSTALL = re.compile(r"pip install(?P<args>[^`#\n]*)")


def _index_installs(text: str) -> list[str]:
    """Return the arguments of ``pip install`` commands that would fetch sls-access from an index."""
    return [
        arg
        for match in PIP_INSTALL.finditer(text)
        for arg in shlex.split(match["args"].replace("…", ""))
        if re.fullmatch(r"sls-access(-oidc)?(\[[\w,]+\])?([<>=!~].*)?", arg)
    ]


def test_index_installs_are_recognised() -> None:
    assert _index_installs("$ python -m pip install 'sls-access[boto3]' sls-access-oidc") == [
        "sls-access[boto3]",
        "sls-access-oidc",
    ]
    assert _index_installs("pip install './sls-access[boto3]' dist/sls_access-0.1-py3-none-any.whl .") == []


@pytest.mark.parametrize("page", INSTALL_PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_sls_access_is_installed_from_a_path_or_wheel_not_an_index(page: Path) -> None:
    # sls-access and its OIDC plugin are not on a package index: `pip install sls-access` fails.
    assert _index_installs(page.read_text(encoding="utf-8")) == []


def test_the_ci_how_to_installs_sls_access_from_its_checkout_not_the_jobs() -> None:
    # A deploy job runs in the user's service checkout: `pip install .` there installs their app.
    page = DOCS / "how-to" / "ci.md"
    installs = [
        shlex.split(line.split("pip install", 1)[1].split("#", 1)[0])
        for block in blocks(page)
        if block.language == "yaml"
        for line in block.code.splitlines()
        if "pip install" in line
    ]
    assert len(installs) == 2
    assert all(args and args[0] not in {".", "./"} and "sls-access" in args[0] for args in installs), installs


def test_no_message_or_help_of_the_package_suggests_an_index_install() -> None:
    # `serve --help`, the missing-extra errors: the checkout form, never `pip install 'sls-access[server]'`.
    index_form = re.compile(r"pip install\s+['\"]?sls-access(-oidc)?\b")
    found = [
        f"{path.relative_to(ROOT)}: {match[0]}"
        for path in sorted((ROOT / "sls_access").rglob("*.py"))
        for match in index_form.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
    serve_help = subprocess.run(
        [sys.executable, "-m", "sls_access.cli", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert "serve" in serve_help.stdout
    assert "pip install '/path/to/sls-access[server]'" in " ".join(serve_help.stdout.split())


def test_the_plugin_how_tos_example_keeps_stderr_to_sls_accesss_one_line(site: PluginSite, tmp_path: Path) -> None:
    fence = "`" * 3
    text = (ROOT / "docs" / "how-to" / "write-a-plugin.md").read_text()
    example = next(block for block in text.split(fence + "python\n")[1:] if block.startswith("# sls_access_audit.py"))
    site.install("audit", example.split(fence)[0], dist="sls-access-audit", module="sls_access_audit")
    env = {**os.environ, "PYTHONPATH": str(site.path)}
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(var, None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sls_access.cli",
            "credential-process",
            "--org",
            "nobody",
            "--app",
            "app",
            "--stage",
            "dev",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 3  # no credentials: the failure observer ran
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("sls-access: error: no AWS credentials")
