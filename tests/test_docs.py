"""The documentation: its worked examples run (at small sizes), the site builds strictly, and
its example pages show their scripts."""

import ast
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(script):
    if "torch" in script.read_text():
        pytest.importorskip("torch")
    env = os.environ | {"IBLAB_EXAMPLE_QUICK": "1"}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once (strictly) for the tests below: the build's outcome and folder."""
    pytest.importorskip("mkdocs")
    site_dir = tmp_path_factory.mktemp("site")
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    return out, site_dir


def test_site_builds_strictly(site):
    out, site_dir = site
    assert out.returncode == 0, out.stderr[-3000:]
    assert (site_dir / "api" / "index.html").stat().st_size > 10_000


def _code_lines(script):
    """The script's lines of code: no docstring, comments, imports or blank lines."""
    tree = ast.parse(script.read_text())
    body = tree.body[1:] if ast.get_docstring(tree) is not None else tree.body
    first = next(s for s in body if not isinstance(s, ast.Import | ast.ImportFrom))
    lines = script.read_text().splitlines()[first.lineno - 1 :]
    return [
        line.strip()
        for line in lines
        if line.strip() and not line.lstrip().startswith(("#", "import ", "from "))
    ]


def _distinctive_line(script):
    """The script's first line of code that no other example has."""
    others = {line for other in EXAMPLES if other != script for line in _code_lines(other)}
    return next(line for line in _code_lines(script) if line not in others)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_page_shows_its_script(site, script):
    """Each example page includes its script's code (a mangled snippet marker shows instead)."""
    out, site_dir = site
    assert out.returncode == 0, out.stderr[-3000:]
    page = site_dir / "examples" / script.stem / "index.html"
    text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
    line = _distinctive_line(script)
    shown = line in text
    assert shown, f"{page.relative_to(site_dir)} does not show {script.name}: {line!r}"


RESULTS = sorted(p.parent for p in (ROOT / "docs" / "results").glob("*/claims.md"))


@pytest.mark.parametrize("folder", RESULTS, ids=lambda p: p.name)
def test_results_tables_are_read_at_a_glance(folder):
    """Each reproduction's claims table: claim | paper | estimate | outcome, every cell at
    most CELL_MAX characters; criteria and measurements are below it."""
    from iblab.claims import CELL_MAX

    text = (folder / "claims.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| claim | paper | estimate | outcome |"
    for row in rows[1:]:
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row[1:-1])]
        assert len(cells) == 4 and all(len(c) <= CELL_MAX for c in cells), row
    assert "## Criteria" in text and "## Details" in text


@pytest.mark.parametrize("folder", RESULTS, ids=lambda p: p.name)
def test_results_page_shows_the_table_with_its_figures(site, folder):
    out, site_dir = site
    assert out.returncode == 0, out.stderr[-3000:]
    page = (site_dir / "results" / folder.name / "index.html").read_text()
    assert "<table>" in page and "estimate" in page
    figures = sorted(p.stem for p in folder.glob("*.png"))
    assert figures and all(f'src="{name}.png"' in page for name in figures)
