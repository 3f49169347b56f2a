"""helpers.llama_build: which llama.cpp build a CPU gets, that AMX never is, and the fall-back when a build dies.

The fall-back tests run a real subprocess that kills itself (SIGILL, SIGSEGV)
as the smoke test of the build "installed" by a test double of pip; nothing is
compiled and no wheel is really installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from helpers import llama_build as lb

AVX2 = {"sse2", "sse4_2", "avx", "avx2", "fma", "f16c", "bmi2"}
AVX512_FULL = AVX2 | {"avx512f", "avx512cd", "avx512dq", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vnni", "avx512_bf16"}


@pytest.mark.parametrize(
    ("flags", "want"),
    [
        (AVX512_FULL, "avx512"),
        (AVX512_FULL - {"avx512_vnni"}, "avx2"),  # Skylake-X: AVX-512 without VNNI
        (AVX512_FULL - {"avx512_bf16"}, "avx2"),  # Ice Lake: no BF16
        (AVX512_FULL - {"avx512vbmi"}, "avx2"),
        (AVX2, "avx2"),
        (AVX2 - {"fma"}, "portable"),
        ({"sse2", "sse4_2", "avx"}, "portable"),
        (set(), "portable"),
    ],
)
def test_flavour_from_cpu_flags(flags, want):
    flavour, reason = lb.choose_flavour(frozenset(flags), environ={})
    assert flavour == want
    assert reason


def test_flavour_when_flags_are_unknown():
    assert lb.choose_flavour(None, environ={}, machine="x86_64")[0] == "avx2"
    assert lb.choose_flavour(None, environ={}, machine="AMD64")[0] == "avx2"
    assert lb.choose_flavour(None, environ={}, machine="arm64")[0] == "portable"


def test_cpu_flags_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 avx avx2 fma f16c bmi2\n\nprocessor\t: 1\n")
    flags, source = lb.cpu_flags(info)
    assert {"avx2", "fma", "bmi2"} <= flags and source == str(info)
    assert lb.cpu_model(info) == "Test CPU"
    assert lb.cpu_flags(tmp_path / "missing")[0] is None


@pytest.mark.parametrize("value", ["avx2", "AVX512", " portable "])
def test_env_var_forces_a_flavour(value):
    flavour, reason = lb.choose_flavour(frozenset(AVX2), environ={lb.ENV_VAR: value})
    assert flavour == value.strip().lower()
    assert lb.ENV_VAR in reason
    if flavour == "avx512":
        assert "lacks" in reason  # forced onto a CPU without it: said, and left to the smoke test


@pytest.mark.parametrize("value", ["", "auto"])
def test_env_var_auto_picks_from_the_cpu(value):
    assert lb.choose_flavour(frozenset(AVX512_FULL), environ={lb.ENV_VAR: value})[0] == "avx512"


@pytest.mark.parametrize("value", ["avx-512", "native", "dl"])
def test_unknown_env_value_is_a_clear_error(value):
    with pytest.raises(ValueError, match=rf"{lb.ENV_VAR}=.*{re.escape(value)}.*avx512, avx2, portable"):
        lb.choose_flavour(frozenset(AVX2), environ={lb.ENV_VAR: value})


def test_unknown_env_value_fails_the_command_line(monkeypatch, capsys):
    monkeypatch.setenv(lb.ENV_VAR, "fastest")
    assert lb.main(["show"]) == 2
    assert "fastest" in capsys.readouterr().err


@pytest.mark.parametrize("flavour", lb.BENCH_FLAVOURS)
def test_cmake_args_never_enable_amx_or_native(flavour):
    args = lb.cmake_args(flavour).split()
    assert not [a for a in args if a.startswith("-DGGML_AMX") and not a.endswith("=OFF")]
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(args)
    assert "-DGGML_NATIVE=OFF" in args and "native" not in " ".join(a for a in args if a != "-DGGML_NATIVE=OFF").lower()


def test_cmake_args_per_flavour():
    avx512, avx2, portable = (set(lb.cmake_args(f).split()) for f in lb.FLAVOURS)
    assert {"-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_BF16=ON", "-DGGML_AVX512_VBMI=ON", "-DGGML_AVX2=ON"} <= avx512
    assert {"-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_AVX512=OFF"} <= avx2
    assert not [a for a in portable if a.endswith("=ON")]  # GGML_NATIVE=OFF alone would switch AVX2 on


def test_pinned_version_matches_constraints(root):
    text = (root / "requirements" / "constraints.txt").read_text()
    assert f"llama_cpp_python=={lb.pinned_version()}" in text.replace("-", "_")


def test_importable_without_llama_cpp(root):
    code = "import sys; sys.modules['llama_cpp'] = None; import helpers.llama_build as m; print(m.choose_flavour(None, environ={}, machine='x86_64')[0])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(root / "src")})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "avx2"


def test_build_bypasses_pips_wheel_cache(tmp_path, monkeypatch):
    """The compile command: its own CMAKE_ARGS, --no-cache-dir, the flavour's own folder (pip replaced by a double)."""
    monkeypatch.setenv("RAGJUDGE_WHEEL_DIR", str(tmp_path))
    seen = {}

    def fake_run(cmd, env=None, **kw):
        seen.update(cmd=cmd, cmake_args=env["CMAKE_ARGS"])
        out = cmd[cmd.index("-w") + 1]
        (lb.Path(out) / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl").write_bytes(b"not a real wheel")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(lb.subprocess, "run", fake_run)
    wheel = lb.build_wheel("avx512", "0.3.36", log=lambda *_: None)
    assert "--no-cache-dir" in seen["cmd"] and "--no-deps" in seen["cmd"]
    assert seen["cmd"][seen["cmd"].index("--no-binary") + 1] == "llama-cpp-python"
    assert seen["cmake_args"] == lb.cmake_args("avx512")
    assert wheel.parent == tmp_path / "avx512"
    assert lb.find_wheel("avx512", "0.3.36") == wheel
    assert lb.find_wheel("avx2", "0.3.36") is None and lb.find_wheel("avx512", "0.3.37") is None


def test_children_do_not_see_our_src_on_pythonpath(monkeypatch, root):
    """make setup runs the module with PYTHONPATH=src; pip must not take src/*.egg-info for an installed project."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root / "src"), "/elsewhere"]))
    assert lb.child_env()["PYTHONPATH"] == "/elsewhere"
    monkeypatch.setenv("PYTHONPATH", str(root / "src"))
    assert "PYTHONPATH" not in lb.child_env()


# --------------------------------------------------------------------------- fall-back with real crashing processes

# The smoke test's stand-in: reads which flavour the double "installed", and dies the way a
# build the CPU cannot run dies (the signal), or reports like the real smoke test.
CRASHER = r"""
import json, os, signal, sys
state = json.load(open(sys.argv[1]))
sig = state["crash"].get(state["installed"])
if sig:
    os.kill(os.getpid(), getattr(signal, sig))
print("SMOKE-RESULT " + json.dumps({"llama_cpp_python": "0.3.36", "system_info": "CPU : AVX2 = 1 | flavour " + state["installed"]}))
"""


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    """Wheels for every flavour (fake files + sidecars), pip replaced by a double that records installs,
    the record written under tmp_path, and a smoke test that runs CRASHER in a real subprocess."""
    monkeypatch.setenv("RAGJUDGE_WHEEL_DIR", str(tmp_path / "wheels"))
    for flavour in lb.FLAVOURS:
        d = tmp_path / "wheels" / flavour
        d.mkdir(parents=True)
        w = d / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
        w.write_bytes(flavour.encode())
        (d / (w.name + ".build.json")).write_text(json.dumps({"version": "0.3.36", "cmake_args": lb.cmake_args(flavour)}))
    state_file = tmp_path / "state.json"
    state = {"installed": None, "crash": {}, "installs": []}

    def save():
        state_file.write_text(json.dumps(state))

    def fake_install(wheel, **kw):
        state["installed"] = wheel.parent.name
        state["installs"].append(wheel.parent.name)
        save()

    monkeypatch.setattr(lb, "install_wheel", fake_install)
    monkeypatch.setattr(lb, "_prefix_of", lambda python: str(tmp_path))

    def smoke():
        return lb.smoke_test(command=[sys.executable, "-c", CRASHER, str(state_file)], timeout=60)

    def set_crash(**crash):
        state["crash"] = crash
        save()

    cpuinfo = tmp_path / "cpuinfo"
    return {"state": state, "smoke": smoke, "set_crash": set_crash, "cpuinfo": cpuinfo, "prefix": tmp_path}


def _cpuinfo(path, flags):
    path.write_text("model name\t: Test CPU\nflags\t\t: " + " ".join(sorted(flags)) + "\n")
    return path


@pytest.mark.parametrize("sig", ["SIGILL", "SIGSEGV"])
def test_crashing_avx512_build_is_replaced_by_avx2(fake_env, sig):
    fake_env["set_crash"](avx512=sig)
    lines = []
    record = lb.install(version="0.3.36", environ={}, cpuinfo=_cpuinfo(fake_env["cpuinfo"], AVX512_FULL), smoke=fake_env["smoke"],
                        log=lines.append)
    assert fake_env["state"]["installs"] == ["avx512", "avx2"]
    assert record["flavour"] == "avx2" and record["chosen"] == "avx512"
    assert record["fell_back_from"][0]["flavour"] == "avx512" and sig in record["fell_back_from"][0]["error"]
    assert any("avx512 build of llama.cpp FAILED" in line and f"killed by {sig}" in line and "installing the avx2 build instead" in line
               for line in lines)
    assert record["system_info"].endswith("flavour avx2")
    assert record["cmake_args"] == lb.cmake_args("avx2")
    assert record["cpu_flags"]["avx512_vnni"] is True
    assert json.loads(lb.record_path(fake_env["prefix"]).read_text()) == record


def test_forced_build_the_cpu_lacks_falls_back(fake_env):
    fake_env["set_crash"](avx512="SIGILL")
    record = lb.install(version="0.3.36", environ={lb.ENV_VAR: "avx512"}, cpuinfo=_cpuinfo(fake_env["cpuinfo"], AVX2),
                        smoke=fake_env["smoke"], log=lambda *_: None)
    assert fake_env["state"]["installs"] == ["avx512", "avx2"]
    assert record["flavour"] == "avx2" and "forced" in record["reason"]


def test_working_pick_is_installed_once(fake_env):
    record = lb.install(version="0.3.36", environ={}, cpuinfo=_cpuinfo(fake_env["cpuinfo"], AVX2), smoke=fake_env["smoke"],
                        log=lambda *_: None)
    assert fake_env["state"]["installs"] == ["avx2"] and record["flavour"] == "avx2" and record["fell_back_from"] == []


def test_fall_back_skips_builds_the_cpu_cannot_run_and_fails_loudly_at_the_end(fake_env):
    fake_env["set_crash"](avx2="SIGSEGV", portable="SIGILL")
    with pytest.raises(lb.BuildError, match="no llama.cpp build passed.*avx2: killed by SIGSEGV.*portable: killed by SIGILL"):
        lb.install(version="0.3.36", environ={}, cpuinfo=_cpuinfo(fake_env["cpuinfo"], AVX2), smoke=fake_env["smoke"], log=lambda *_: None)
    assert fake_env["state"]["installs"] == ["avx2", "portable"]  # avx512 never tried on a CPU without it


def test_check_with_the_model_falls_back_too(fake_env):
    """make setup's second test (after the models are installed) replaces a build that dies on the model."""
    cpuinfo = _cpuinfo(fake_env["cpuinfo"], AVX2)
    lb.install(version="0.3.36", environ={}, cpuinfo=cpuinfo, smoke=fake_env["smoke"], log=lambda *_: None)
    fake_env["set_crash"](avx2="SIGILL")
    lines = []
    record = lb.check(cpuinfo=cpuinfo, smoke=fake_env["smoke"], assemble_model=False, log=lines.append)
    assert fake_env["state"]["installs"] == ["avx2", "portable"]
    assert record["flavour"] == "portable" and record["fell_back_from"][-1]["flavour"] == "avx2"
    assert any("installing the portable build instead" in line for line in lines)


def test_smoke_test_reports_a_plain_failure():
    r = lb.smoke_test(command=[sys.executable, "-c", "import sys; sys.exit('no llama_cpp here')"], timeout=60)
    assert not r["ok"] and r["error"].startswith("exit status 1") and "no llama_cpp here" in r["error"]
    assert lb.describe_exit(-4) == "killed by SIGILL" and lb.describe_exit(-11) == "killed by SIGSEGV"


def test_llm_describe_records_the_build(monkeypatch):
    llama_cpp = pytest.importorskip("llama_cpp")
    from helpers import llm, llm_backends

    info = llama_cpp.llama_print_system_info().decode().strip()
    monkeypatch.setattr(llm_backends, "_LLAMA_BUILD", {})
    monkeypatch.setattr(lb, "read_record", lambda prefix=None: {"flavour": "avx2", "cmake_args": "x", "system_info": info,
                                                                 "llama_cpp_python": llama_cpp.__version__})
    assert llm.llama_build_info() == {"flavour": "avx2", "cmake_args": "x", "system_info": info}
    monkeypatch.setattr(llm_backends, "_LLAMA_BUILD", {})
    monkeypatch.setattr(lb, "read_record", lambda prefix=None: {"flavour": "avx512", "system_info": "something else",
                                                                 "llama_cpp_python": llama_cpp.__version__})
    assert llm.llama_build_info() == {"flavour": "unknown", "system_info": info}
