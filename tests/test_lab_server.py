"""`make lab`: the Jupyter server it starts, asked through its REST API.

The server is started exactly as `make lab` does (``python -m helpers lab``),
on 127.0.0.1, a free port and a random token, and stopped afterwards.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from helpers.runs import NOTEBOOKS, ROOT

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port, token):
        self.url, self.token = f"http://127.0.0.1:{port}", token

    def request(self, method, path, body=None, token=True):
        req = urllib.request.Request(
            self.url + path, method=method, data=None if body is None else json.dumps(body).encode()
        )
        if token:
            req.add_header("Authorization", f"token {self.token}")
        with _NO_PROXY.open(req, timeout=30) as resp:
            text = resp.read().decode()
            return json.loads(text) if text else None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_TOKEN": token,
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "helpers",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
        ],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    srv = Server(port, token)
    try:
        deadline = time.time() + 300  # seconds on an idle machine; generous for a loaded one
        while True:
            assert proc.poll() is None, f"the server exited: {(tmp / 'server.log').read_text()[-3000:]}"
            assert time.time() < deadline, (
                f"no answer within 300 s: {(tmp / 'server.log').read_text()[-3000:]}"
            )
            try:
                srv.request("GET", "/api/status")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        yield srv
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_the_notebooks_are_there(server):
    listing = server.request("GET", "/api/contents")
    notebooks = {c["name"] for c in listing["content"] if c["type"] == "notebook"}
    assert notebooks >= {p.name for p in NOTEBOOKS.glob("*.ipynb")} and notebooks
    nb = server.request("GET", "/api/contents/02_retrieve.ipynb?content=1")
    assert any("parameters" in c["metadata"].get("tags", []) for c in nb["content"]["cells"])


def test_the_kernel_is_the_projects(server):
    specs = server.request("GET", "/api/kernelspecs")
    assert specs["default"] == "python3"
    spec = specs["kernelspecs"]["python3"]["spec"]
    assert (
        spec["display_name"] == "Python 3 (ragjudge)"
    )  # the one `make setup` registers, not Jupyter's fallback
    assert Path(spec["argv"][0]).parent == Path(sys.prefix) / "bin"


def test_a_token_is_required(server):
    with pytest.raises(urllib.error.HTTPError) as err:
        server.request("GET", "/api/contents", token=False)
    assert err.value.code == 403


def test_a_notebooks_kernel_runs_in_the_repository_root(server):
    """So `data/runs/sample` means the same in JupyterLab as under `make run`."""
    import websocket

    session = server.request(
        "POST",
        "/api/sessions",
        {"path": "02_retrieve.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}},
    )
    kernel = session["kernel"]["id"]
    try:
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{server.url.rsplit(':', 1)[1]}/api/kernels/{kernel}/channels",
            header=[f"Authorization: token {server.token}"],
            timeout=300,
            http_no_proxy=["127.0.0.1"],
        )
        msg_id = uuid.uuid4().hex
        code = "import os, sys, helpers; print(os.getcwd()); print(sys.prefix)"
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": "test",
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "channel": "shell",
                    "buffers": [],
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        # the reply (shell) and the printed lines (iopub) come in no fixed order: read until the kernel is idle again
        out, reply, idle, deadline = "", None, False, time.time() + 300
        while (reply is None or not idle) and time.time() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"]
            elif msg["msg_type"] == "execute_reply":
                reply = msg["content"]
            elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
        ws.close()
    finally:
        server.request("DELETE", f"/api/sessions/{session['id']}")
    assert reply is not None and reply["status"] == "ok", (reply, out)
    assert out.splitlines() == [str(ROOT), sys.prefix]
