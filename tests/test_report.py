"""The run report: built at the end of a real run (01 and 02 on the sample), opened in headless Chromium.

No LLM: the run is the two retrieval stages, as `make run` executes them, into a
temporary folder (about 30 s on 2 idle cores). The browser is Debian's
``chromium`` driven by Playwright; `.ci/run` installs it.
"""

import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from helpers import report
from helpers.errors import InputError

STAGES = ["01_build_index", "02_retrieve"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, sample_run):
    with sample_run(tmp_path_factory.mktemp("report"), STAGES) as run:
        yield run


def _copy(run_dir, tmp_path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / run_dir.name))


def test_the_run_writes_its_report_with_the_manifests_facts(run):
    _, run_dir = run
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    html = (run_dir / "report" / "index.html").read_text(encoding="utf-8")
    for stage in STAGES:
        assert f'href="{stage}.html"' in html
        page = (run_dir / "report" / f"{stage}.html").read_text(encoding="utf-8")
        assert "jp-Notebook" in page and 'href="index.html"' in page
        assert f"{manifest['stages'][stage]['seconds']:.1f}" in html
    assert manifest["git"]["commit"] and manifest["git"]["commit"] in html
    assert manifest["models"]["embedding"]["sha256"] in html
    for table in run_dir.glob("*.parquet"):  # each table with its row count
        rows = len(pd.read_parquet(table))
        assert re.search(rf"<code>{table.name}</code></td><td class=\"num\">{rows:,}</td>", html), table.name
    figures = sorted(p.name for p in (run_dir / "figures").glob("*.png"))
    assert len(figures) >= 3
    for name in figures:
        assert f'href="../figures/{name}"' in html and f'src="thumbs/{name}"' in html
        assert (run_dir / "report" / "thumbs" / name).stat().st_size > 0
    pages = "".join(p.read_text(encoding="utf-8") for p in (run_dir / "report").glob("*.html"))
    assert not re.search(r"""<script[^>]+src=["']?https?:""", pages)  # nothing fetched from a CDN


def test_a_warm_rerun_renders_only_what_changed(run):
    _, run_dir = run
    pages = {p.name: p.stat().st_mtime_ns for p in (run_dir / "report").glob("0*.html")}
    thumbs = {p.name: p.stat().st_mtime_ns for p in (run_dir / "report" / "thumbs").glob("*.png")}
    report.build_report(run_dir)  # what a warm re-run calls once every stage is reused
    assert {p.name: p.stat().st_mtime_ns for p in (run_dir / "report").glob("0*.html")} == pages
    assert {p.name: p.stat().st_mtime_ns for p in (run_dir / "report" / "thumbs").glob("*.png")} == thumbs

    nb_path = run_dir / "notebooks" / "02_retrieve.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A note added after the run."))
    nbformat.write(nb, nb_path)
    report.build_report(run_dir)
    assert "A note added after the run." in (run_dir / "report" / "02_retrieve.html").read_text(
        encoding="utf-8"
    )
    assert (run_dir / "report" / "02_retrieve.html").stat().st_mtime_ns != pages["02_retrieve.html"]
    assert (run_dir / "report" / "01_build_index.html").stat().st_mtime_ns == pages["01_build_index.html"]


def test_environment_secrets_are_redacted(run, tmp_path, monkeypatch):
    run_dir = _copy(run[1], tmp_path)
    key, other = "sk-test-4f1c9e0b7d2a", "ghp_example_token_value"
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["config"]["judge"]["api_key_env"] = "MY_JUDGE"  # a config names the variable, never its value
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    nb_path = run_dir / "notebooks" / "01_build_index.ipynb"
    nb = nbformat.read(nb_path, as_version=4)  # a notebook that printed both values
    [c for c in nb.cells if c.cell_type == "code"][-1].outputs.append(
        nbformat.v4.new_output("stream", name="stdout", text=f"key {key} token {other}\n")
    )
    nbformat.write(nb, nb_path)
    report.build_report(run_dir, force=True)  # rendered while neither value is in the environment
    assert key in (run_dir / "report" / "01_build_index.html").read_text(encoding="utf-8")

    monkeypatch.setenv("MY_JUDGE", key)
    monkeypatch.setenv("SOME_SERVICE_TOKEN", other)
    report.build_report(run_dir)  # the page is cached: its text is redacted all the same
    text = "".join(
        p.read_text(encoding="utf-8")
        for p in (run_dir / "report").rglob("*")
        if p.suffix in (".html", ".json")
    )
    assert key not in text and other not in text
    assert "[redacted $MY_JUDGE]" in text and "[redacted $SOME_SERVICE_TOKEN]" in text


def test_not_a_run_folder(tmp_path):
    with pytest.raises(InputError, match="no manifest.json") as err:
        report.build_report(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_command_line(run, tmp_path, capsys):
    from helpers.__main__ import main

    run_dir = _copy(run[1], tmp_path)
    shutil.rmtree(run_dir / "report")
    assert main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {run_dir / 'report' / 'index.html'}"
    assert (run_dir / "report" / "02_retrieve.html").exists()
    assert main(["report", str(tmp_path / "nowhere")]) == 2


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail(
            "Chromium is missing: `apt-get install -y chromium` (Debian's package; .ci/run installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _open(browser, path: Path):
    """Load a file in a new page; return the page, its console errors and the state of every image."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"failed: {req.url}"))
    page.goto(path.resolve().as_uri(), wait_until="load")
    images = page.evaluate("[...document.images].map(i => ({src: i.getAttribute('src'), w: i.naturalWidth}))")
    return page, errors, images


def test_report_in_headless_chromium(run, browser):
    _, run_dir = run
    index = run_dir / "report" / "index.html"
    page, errors, images = _open(browser, index)
    figures = sorted((run_dir / "figures").glob("*.png"))
    assert sorted(i["src"] for i in images) == [f"thumbs/{f.name}" for f in figures]
    assert all(i["w"] > 0 for i in images), images
    # every thumbnail links to its full-size figure, and that loads too
    full = page.evaluate("""() => Promise.all([...document.querySelectorAll('figure a')].map(a => new Promise(done => {
        const img = new Image(); img.onload = () => done(img.naturalWidth); img.onerror = () => done(0); img.src = a.href; })))""")
    assert len(full) == len(figures) and all(w > 0 for w in full), full
    shot = run_dir / "report" / "screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    links = page.evaluate("[...document.querySelectorAll('td a')].map(a => a.getAttribute('href'))")
    assert links == [f"{s}.html" for s in STAGES]
    page.close()
    assert errors == []

    for stage in STAGES:  # each notebook's page: its title, any image it shows loads, no errors
        page, errors, images = _open(browser, run_dir / "report" / f"{stage}.html")
        assert page.title() == stage
        assert all(i["w"] > 0 for i in images), (stage, images)
        assert errors == [], (stage, errors)
        page.close()


def test_the_browser_check_sees_a_broken_figure(run, browser, tmp_path):
    run_dir = _copy(run[1], tmp_path)
    victim = sorted((run_dir / "report" / "thumbs").glob("*.png"))[0]
    victim.write_bytes(b"not a png")
    page, errors, images = _open(browser, run_dir / "report" / "index.html")
    page.close()
    assert [i["src"] for i in images if i["w"] == 0] == [f"thumbs/{victim.name}"]
