"""The HTML report of a run folder: an index page and one page per executed notebook.

:func:`build_report` writes ``<run_dir>/report/``::

    index.html             the run at a glance: config, commit, models and their hashes,
                           the llama.cpp build, per-notebook timings, row counts of the
                           tables, the figures as thumbnails linking to the full images
    01_build_index.html    each executed notebook rendered by nbconvert (outputs included)
    thumbs/*.png           the thumbnails (the full figures stay in ../figures/)

The pages load nothing from the network (no MathJax, require.js, Mermaid or
widget renderer from a CDN), so the report opens offline and from a copied
run folder.

It is cheap to rebuild: a notebook page is rendered again only when its
executed notebook changed (by content hash), a thumbnail only when its figure
changed; the index, a few milliseconds, is always rewritten. The runner
(:func:`helpers.runs.run_config`) calls it at the end of every run, so a
warm re-run only refreshes the index.

No secret reaches the report: the manifest holds no key (a config names the
environment variable, never its value), and before anything is written every
value of an environment variable whose name looks secret (``*_KEY``,
``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``, ...) or that a config names in
``api_key_env`` is replaced by ``[redacted $NAME]``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import InputError
from .files import bytes_sha256, file_sha256, write_atomic, write_text

__all__ = ["build_report", "secret_values", "redact"]

REPORT_DIR = "report"
STATE_FILE = ".state.json"
THUMB_SIZE = (480, 360)
#: An environment variable holds a secret when a ``_``-separated word of its name is one of these
#: (``OPENAI_API_KEY``, ``HF_TOKEN``, ``DB_PASSWORD``; not ``TOKENIZERS_PARALLELISM``).
SECRET_WORDS = frozenset(
    {
        "KEY",
        "APIKEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PASSPHRASE",
        "CREDENTIAL",
        "CREDENTIALS",
        "AUTH",
        "PAT",
        "PRIVATE",
    }
)
#: Shorter values are too likely to occur by chance to be redacted (``1``, ``true``, ``ubuntu``).
MIN_SECRET_LEN = 8

# nbconvert's lab template, minus what it fetches from CDNs (require.js, MathJax, Mermaid, the widget
# renderer: a progress bar then shows as its text), plus a link home
_NOTEBOOK_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block body_header -%}{{ super() }}
<nav style="padding: 8px 16px; font-family: sans-serif"><a href="index.html">&larr; run report</a></nav>
{%- endblock body_header -%}
"""

_INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Run {{ run_id }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
.facts { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
.failed { color: #b00020; font-weight: bold; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 16px; }
figure { margin: 0; border: 1px solid #ddd; padding: 6px; background: #fff; }
figure img { width: 100%; height: 200px; object-fit: contain; display: block; }
td.hash { word-break: break-all; max-width: 22em; }
figcaption { font-size: 0.85em; color: #444; margin-top: 4px; word-break: break-all; }
</style>
</head>
<body>
<h1>Run <code>{{ run_id }}</code></h1>
<p class="facts">config <code>{{ config_path or "(given as a dict)" }}</code>
 &middot; commit <code>{{ commit or "unknown" }}</code>{% if dirty %} (with uncommitted changes){% endif %}
 &middot; Python {{ python or "?" }} &middot; {{ platform or "" }}
 &middot; updated {{ updated or "?" }}</p>

<h2 id="notebooks">Notebooks</h2>
<table>
<tr><th>stage</th><th>status</th><th>seconds</th><th>started</th><th>finished</th></tr>
{% for s in stages %}<tr>
<td>{% if s.page %}<a href="{{ s.page }}">{{ s.name }}</a>{% else %}{{ s.name }}{% endif %}</td>
<td{% if s.status == "failed" %} class="failed"{% endif %}>{{ s.status }}{% if s.error %}: {{ s.error }}{% endif %}</td>
<td class="num">{{ "%.1f"|format(s.seconds) if s.seconds is not none else "" }}</td>
<td>{{ s.started or "" }}</td><td>{{ s.finished or "" }}</td>
</tr>
{% endfor %}{% if total_seconds %}<tr><td>all stages, when each last ran</td><td></td>
<td class="num">{{ "%.1f"|format(total_seconds) }}</td><td></td><td></td></tr>{% endif %}
</table>

<h2 id="models">Models</h2>
<table>
<tr><th>role</th><th>backend</th><th>model</th><th>file</th><th>bytes</th><th>sha256</th><th>llama.cpp build</th></tr>
{% for m in models %}<tr>
<td>{{ m.role }}</td><td>{{ m.backend }}</td><td>{{ m.model }}</td><td><code>{{ m.file }}</code></td>
<td class="num">{{ "{:,}".format(m.bytes) if m.bytes is not none else "" }}</td>
<td class="hash"><code>{{ m.sha256 }}</code></td>
<td>{% if m.llama_build %}<b>{{ m.llama_build.get("flavour", "") }}</b>
{%- if m.llama_build.get("cmake_args") %}<br><code>{{ m.llama_build.cmake_args }}</code>{% endif %}
{%- if m.llama_build.get("system_info") %}<br><small>{{ m.llama_build.system_info }}</small>{% endif %}{% endif %}</td>
</tr>
{% endfor %}</table>

<h2 id="tables">Tables</h2>
<table>
<tr><th>table</th><th>rows</th><th>columns</th><th>bytes</th></tr>
{% for t in tables %}<tr><td><code>{{ t.name }}</code></td><td class="num">{{ "{:,}".format(t.rows) }}</td>
<td class="num">{{ t.columns }}</td><td class="num">{{ "{:,}".format(t.bytes) }}</td></tr>
{% endfor %}</table>

<h2 id="figures">Figures</h2>
<div class="figures">
{% for f in figures %}<figure><a href="{{ f.full }}"><img src="{{ f.thumb }}" alt="{{ f.name }}" loading="eager"></a>
<figcaption>{{ f.name }}</figcaption></figure>
{% endfor %}</div>

<h2 id="config">Config</h2>
<pre>{{ config_yaml }}</pre>

<details><summary>Packages</summary>
<table>{% for name, version in packages %}<tr><td>{{ name }}</td><td>{{ version or "not installed" }}</td></tr>{% endfor %}</table>
</details>
<details><summary>Artefacts ({{ artefacts|length }})</summary>
<table><tr><th>path</th><th>bytes</th><th>sha256</th></tr>
{% for a in artefacts %}<tr><td><code>{{ a.path }}</code></td><td class="num">{{ "{:,}".format(a.bytes) }}</td>
<td class="hash"><code>{{ a.sha256 }}</code></td></tr>
{% endfor %}</table>
</details>
</body>
</html>
"""


# ---------------------------------------------------------------- secrets


def secret_values(config=None, environ=None) -> dict:
    """Environment values that must not appear in a report, by variable name.

    A variable counts as secret when a word of its name is in :data:`SECRET_WORDS`
    or a config section names it in ``api_key_env``; values shorter than
    :data:`MIN_SECRET_LEN` characters are left out (too likely by chance).

    Parameters
    ----------
    config : dict, optional
        A run's config (the manifest's ``config``); its sections' ``api_key_env``
        name more variables.
    environ : mapping, optional
        The environment (default: ``os.environ``).

    Returns
    -------
    dict
        ``{name: value}``.

    Examples
    --------
    >>> env = {"MY_LLM": "sk-123456", "HF_TOKEN": "hf_abcdefgh", "HOME": "/root", "TOKENIZERS_PARALLELISM": "false_x_y"}
    >>> secret_values({"judge": {"api_key_env": "MY_LLM"}}, env)
    {'HF_TOKEN': 'hf_abcdefgh', 'MY_LLM': 'sk-123456'}
    """
    environ = os.environ if environ is None else environ
    named = set()
    for section in (config or {}).values():
        if isinstance(section, dict) and section.get("api_key_env"):
            named.add(str(section["api_key_env"]))
    return {
        name: value
        for name, value in sorted(environ.items())
        if (name in named or SECRET_WORDS & set(name.upper().split("_")))
        and len(value.strip()) >= MIN_SECRET_LEN
    }


def redact(text: str, secrets: dict) -> str:
    """``text`` with every secret value replaced by ``[redacted $NAME]`` (longest values first).

    Examples
    --------
    >>> redact("key=sk-123456", {"MY_LLM": "sk-123456"})
    'key=[redacted $MY_LLM]'
    """
    for name, value in sorted(secrets.items(), key=lambda kv: -len(kv[1])):
        text = text.replace(value.strip(), f"[redacted ${name}]")
    return text


# ---------------------------------------------------------------- pieces


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"ragjudge_report.html.j2": _NOTEBOOK_TEMPLATE})],
        template_file="ragjudge_report.html.j2",
    )


def _render_notebook(exporter, path: Path) -> str:
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for a damaged file
        raise InputError(f"cannot read the executed notebook: {exc}", path=path) from exc
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    return body


def _thumbnail(src: Path, dst: Path) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(src) as im:
            im.load()
            im.thumbnail(THUMB_SIZE)
            write_atomic(dst, lambda tmp: im.save(tmp, format="PNG", optimize=True))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"not a readable image: {exc}", path=src) from exc


def _tables(run_dir: Path) -> list[dict]:
    import pyarrow.parquet as pq

    out = []
    for p in sorted(run_dir.glob("*.parquet")):
        try:
            meta = pq.read_metadata(p)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
            raise InputError(f"not a readable Parquet table: {exc}", path=p) from exc
        out.append(
            {"name": p.name, "rows": meta.num_rows, "columns": meta.num_columns, "bytes": p.stat().st_size}
        )
    return out


def _models(manifest: dict) -> list[dict]:
    rows = []
    for role, info in (manifest.get("models") or {}).items():
        rows.append(
            {
                "role": role,
                "backend": info.get("backend", ""),
                "model": info.get("model", ""),
                "file": info.get("path") or info.get("file") or "",
                "bytes": info.get("bytes"),
                "sha256": info.get("sha256") or info.get("fingerprint") or "",
                "llama_build": info.get("llama_build"),
            }
        )
    return rows


def _stages(manifest: dict, pages: dict) -> list[dict]:
    stages = manifest.get("stages") or {}
    names = list(stages) + sorted(set(pages) - set(stages))  # an executed notebook the manifest does not list
    return [
        {
            "name": name,
            "page": pages.get(name),
            "status": stages.get(name, {}).get("status", "not in the manifest"),
            "seconds": stages.get(name, {}).get("seconds"),
            "started": stages.get(name, {}).get("started"),
            "finished": stages.get(name, {}).get("finished"),
            "error": stages.get(name, {}).get("error"),
        }
        for name in names
    ]


def _read_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


# ---------------------------------------------------------------- the report


def build_report(run_dir, *, force: bool = False) -> Path:
    """Write the run folder's HTML report and return the path of its index page.

    Parameters
    ----------
    run_dir : str or os.PathLike
        A run folder written by :func:`helpers.runs.run_config` (it holds
        ``manifest.json``; the executed notebooks in ``notebooks/``, the
        figures in ``figures/`` and the tables ``*.parquet`` are optional).
    force : bool
        Render every notebook and thumbnail again, even when unchanged.

    Returns
    -------
    pathlib.Path
        ``<run_dir>/report/index.html``.

    Raises
    ------
    InputError
        ``run_dir`` is not a run folder (no ``manifest.json``), or a notebook,
        figure or table in it cannot be read (the message names the file).
    WriteError
        The report folder cannot be written.

    Examples
    --------
    >>> build_report("data/runs/sample")  # doctest: +SKIP
    PosixPath('data/runs/sample/report/index.html')
    """
    from importlib.metadata import version

    import jinja2
    import yaml

    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(
            "not a run folder (no manifest.json): run `python -m helpers run CONFIG` first", path=run_dir
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", path=manifest_path) from exc
    out = run_dir / REPORT_DIR
    secrets = secret_values(manifest.get("config"))
    key = bytes_sha256(
        json.dumps([file_sha256(__file__), version("nbconvert")])
    )  # what else a page depends on
    state_path = out / STATE_FILE
    old = _read_state(state_path)
    if force or old.get("key") != key:
        old = {}
    state = {"key": key, "pages": {}, "thumbs": {}}

    exporter = None
    pages = {}
    for nb in sorted((run_dir / "notebooks").glob("*.ipynb")):
        page = out / f"{nb.stem}.html"
        digest = file_sha256(nb)
        if old.get("pages", {}).get(nb.stem) != digest or not page.exists():
            exporter = exporter or _exporter()
            write_text(page, redact(_render_notebook(exporter, nb), secrets))
        elif secrets:  # a page rendered before a secret was set: its value may be in there
            text = page.read_text(encoding="utf-8")
            if redact(text, secrets) != text:
                write_text(page, redact(text, secrets))
        state["pages"][nb.stem] = digest
        pages[nb.stem] = page.name
    for stale in set(old.get("pages", {})) - set(pages):
        (out / f"{stale}.html").unlink(missing_ok=True)

    figures = []
    for fig in sorted((run_dir / "figures").glob("*.png")):
        thumb = out / "thumbs" / fig.name
        digest = file_sha256(fig)
        if old.get("thumbs", {}).get(fig.name) != digest or not thumb.exists():
            _thumbnail(fig, thumb)
        state["thumbs"][fig.name] = digest
        figures.append({"name": fig.stem, "full": f"../figures/{fig.name}", "thumb": f"thumbs/{fig.name}"})
    for stale in set(old.get("thumbs", {})) - set(state["thumbs"]):
        (out / "thumbs" / stale).unlink(missing_ok=True)

    stages = _stages(manifest, pages)
    seconds = [s["seconds"] for s in stages if s["seconds"] is not None]
    git = manifest.get("git") or {}
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)  # a key one run lacks renders empty
    html = env.from_string(_INDEX_TEMPLATE).render(
        run_id=manifest.get("run_id", run_dir.name),
        config_path=manifest.get("config_path"),
        commit=git.get("commit"),
        dirty=git.get("dirty"),
        python=manifest.get("python"),
        platform=manifest.get("platform"),
        updated=manifest.get("updated"),
        stages=stages,
        total_seconds=sum(seconds),
        models=_models(manifest),
        tables=_tables(run_dir),
        figures=figures,
        config_yaml=yaml.safe_dump(manifest.get("config") or {}, sort_keys=False, allow_unicode=True),
        packages=sorted((manifest.get("packages") or {}).items()),
        artefacts=manifest.get("artefacts") or [],
    )
    index = write_text(out / "index.html", redact(html, secrets))
    write_text(state_path, json.dumps(state, indent=1))
    return index
