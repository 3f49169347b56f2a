"""llama.cpp builds side by side: prompt and generation tokens/s of each flavour's wheel, in one run.

For each flavour (``avx512``, ``avx2``, ``portable``, ``dl``; see
``helpers.llama_build``) whose wheel is in ``~/.cache/ragjudge/wheels/<flavour>/``
(``--build`` compiles the missing ones first, ~10 min each on 2 cores, much
longer for ``dl``), the wheel is installed on its own with
``pip install --no-deps --target ~/.cache/ragjudge/llama-builds/<flavour>/`` and
measured in a subprocess whose ``PYTHONPATH`` starts there: the default GGUF's
prompt evaluation (a ~600-token prompt, prompt only, best of 3) and greedy
generation (64 tokens after that prompt, best of 3), with one thread per
physical core. A flavour the CPU cannot run is reported as
``skipped: CPU lacks <flags>`` and never executed. Prints ratios against the
``avx2`` build and writes ``benchmarks/results/llama_builds.json``.

Run when the machine is otherwise idle::

    .venv/bin/python benchmarks/llama_builds.py [--build] [--flavours avx512 avx2]
    .venv/bin/python benchmarks/run.py llama_builds        # the same, from the benchmark runner

``--prompt-tokens 32 --gen-tokens 4 --repeat 1 --json /tmp/x.json`` checks the
machinery in seconds (those numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from helpers import llama_build as lb  # noqa: E402 - standard library only

RESULTS = ROOT / "benchmarks" / "results" / "llama_builds.json"

# Runs in the build's own interpreter: PYTHONPATH=<target> puts that build's llama_cpp first.
MEASURE_CODE = r"""
import json, os, sys, time
import numpy as np
a = json.loads(sys.argv[1])
import llama_cpp
assert os.path.realpath(llama_cpp.__file__).startswith(os.path.realpath(a["target"])), llama_cpp.__file__
out = {"llama_cpp_file": llama_cpp.__file__}
if a["dl"]:
    sys.path.insert(0, a["src"])
    from helpers.llama_build import load_dl_backends
    out["dl_variant"] = load_dl_backends(a["target"])
t0 = time.perf_counter()
llm = llama_cpp.Llama(model_path=a["model"], n_ctx=a["prompt_tokens"] + a["gen_tokens"] + 16, n_batch=a["n_batch"],
                      n_threads=a["threads"], seed=0, verbose=False)
out["load_s"] = round(time.perf_counter() - t0, 2)
out["system_info"] = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
text = a["text"]
toks = llm.tokenize(text.encode(), add_bos=True)
while len(toks) < a["prompt_tokens"]:
    text += " " + a["text"]
    toks = llm.tokenize(text.encode(), add_bos=True)
toks = toks[: a["prompt_tokens"]]
llm.eval(toks[:8])  # warm-up: page in the weights
prompt_s = []
for _ in range(a["repeat"]):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(toks)
    prompt_s.append(time.perf_counter() - t0)
n_vocab = llm.n_vocab()
gen_s, generated = [], []
for _ in range(a["repeat"]):
    llm.n_tokens = len(toks) - 1  # back to the end of the prompt: eval drops the KV cells past n_tokens
    llm.eval(toks[-1:])           # and recomputes the last prompt token's logits
    generated = []
    t0 = time.perf_counter()
    for _ in range(a["gen_tokens"]):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,))
        tok = int(np.argmax(logits))
        generated.append(tok)
        llm.eval([tok])
    gen_s.append(time.perf_counter() - t0)
out.update(prompt_tokens=len(toks), prompt_s=[round(x, 3) for x in prompt_s], gen_tokens=len(generated),
           gen_s=[round(x, 3) for x in gen_s], prompt_tok_s=round(len(toks) / min(prompt_s), 2),
           gen_tok_s=round(len(generated) / min(gen_s), 2), generated_text=llm.detokenize(generated).decode("utf-8", "replace"))
print("MEASURE-RESULT " + json.dumps(out))
"""

# A judge-like passage (Portuguese lecture prose with English instructions), repeated to the prompt length.
TEXT = (
    "You are grading whether an answer is supported by a lecture excerpt. Reply yes or no. "
    "Excerpt: a rede U-Net tem um codificador que reduz a resolução da imagem e um decodificador que a recupera; "
    "as conexões de atalho levam os mapas de ativação do codificador diretamente ao decodificador, o que preserva "
    "os detalhes finos necessários para segmentar cada pixel. O dropout desliga neurônios ao acaso durante o treino "
    "e reduz o sobreajuste; na inferência todos os neurônios participam e as ativações são reescaladas. "
    "Question: why can the U-Net not be built as a sequential model? Answer: because of its skip connections."
)


def target_dir(flavour: str) -> Path:
    return Path(os.environ.get("RAGJUDGE_LLAMA_BUILDS_DIR") or Path.home() / ".cache" / "ragjudge" / "llama-builds") / flavour


def install_target(wheel: Path, flavour: str) -> Path:
    """Install ``wheel`` alone into the flavour's --target folder (again only when the wheel changed)."""
    target = target_dir(flavour)
    stamp = target / ".wheel-sha256"
    digest = lb._sha256(wheel)
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return target
    target.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--quiet", "--no-deps",
                        "--upgrade", "--target", str(target), str(wheel)])
    if r.returncode != 0:
        raise lb.BuildError(f"pip install --target {target} {wheel.name} failed (exit {r.returncode})")
    if flavour == "dl":
        lb.remove_amx_variants(target)
    stamp.write_text(digest + "\n")
    return target


def measure(flavour: str, target: Path, *, model: Path, prompt_tokens: int, gen_tokens: int, repeat: int, threads: int,
            n_batch: int = 512, timeout: float = 1800) -> dict:
    args = dict(target=str(target), src=str(ROOT / "src"), dl=flavour == "dl", model=str(model), prompt_tokens=prompt_tokens,
                gen_tokens=gen_tokens, repeat=repeat, threads=threads, n_batch=n_batch, text=TEXT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), *filter(None, [os.environ.get("PYTHONPATH")])]))
    try:
        r = subprocess.run([sys.executable, "-c", MEASURE_CODE, json.dumps(args)], capture_output=True, text=True, env=env,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"failed: timed out after {timeout:.0f} s"}
    for line in r.stdout.splitlines():
        if line.startswith("MEASURE-RESULT ") and r.returncode == 0:
            return {"status": "ok", **json.loads(line[len("MEASURE-RESULT "):])}
    tail = (r.stderr.strip().splitlines() or [""])[-1][:300]
    return {"status": f"failed: {lb.describe_exit(r.returncode)}" + (f": {tail}" if tail else "")}


def run(flavours=None, *, build: bool = False, prompt_tokens: int = 600, gen_tokens: int = 64, repeat: int = 3,
        threads: int | None = None, model: Path | None = None, json_path: Path | None = RESULTS, log=print) -> dict:
    """Measure each flavour; returns (and writes to ``json_path``) the results with ratios against avx2."""
    version = lb.pinned_version()
    flags, source = lb.cpu_flags()
    model = Path(model) if model else lb.default_model_path()
    if not model.is_file():
        from helpers.llm import default_gguf

        model = default_gguf()
    if threads is None:
        from helpers.llm import physical_cores

        threads = physical_cores()
    out = {
        "what": "prompt evaluation (prompt only) and greedy generation tokens/s of the default GGUF, per llama.cpp build",
        "machine": {"cpu": lb.cpu_model(), "logical_cpus": os.cpu_count(), "threads": threads,
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
                    "cpu_flags_source": source,
                    "cpu_flags": {f: (f in flags) if flags is not None else None
                                  for f in sorted({f for c in lb.FLAVOURS for f in lb.REQUIRES[c]})}},
        "llama_cpp_python": version,
        "model": str(model),
        "prompt_tokens": prompt_tokens, "gen_tokens": gen_tokens, "repeat": repeat, "statistic": "best of repeat",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "flavours": {},
    }
    for flavour in flavours or lb.BENCH_FLAVOURS:
        row = {"cmake_args": lb.cmake_args(flavour)}
        out["flavours"][flavour] = row
        lacks = lb.missing_flags(flavour, flags)
        if lacks:
            row["status"] = f"skipped: CPU lacks {' '.join(lacks)}"
        wheel = lb.find_wheel(flavour, version)
        if wheel is None and build:
            try:
                wheel = lb.build_wheel(flavour, version, log=log)
            except lb.BuildError as err:
                row["status"] = f"failed: {err}"
        if lacks or "status" in row:
            row["wheel"] = str(wheel) if wheel else None
            log(f"== {flavour}: {row['status']}")
            continue
        if wheel is None:
            row["status"] = f"no wheel in {lb.wheel_dir(flavour)} (--build compiles it)"
            log(f"== {flavour}: {row['status']}")
            continue
        row["wheel"] = str(wheel)
        try:
            target = install_target(wheel, flavour)
        except lb.BuildError as err:
            row["status"] = f"failed: {err}"
            continue
        log(f"== {flavour}: measuring {target} ...")
        t0 = time.perf_counter()
        row.update(measure(flavour, target, model=model, prompt_tokens=prompt_tokens, gen_tokens=gen_tokens, repeat=repeat,
                           threads=threads))
        log(f"   {row['status']}" + (f": prompt {row['prompt_tok_s']} tok/s, generation {row['gen_tok_s']} tok/s"
                                      f" ({time.perf_counter() - t0:.0f} s)" if row["status"] == "ok" else ""))
    base = out["flavours"].get("avx2", {})
    for _flavour, row in out["flavours"].items():
        if row.get("status") == "ok" and base.get("status") == "ok":
            row["prompt_vs_avx2"] = round(row["prompt_tok_s"] / base["prompt_tok_s"], 2)
            row["gen_vs_avx2"] = round(row["gen_tok_s"] / base["gen_tok_s"], 2)
    log("\nflavour    prompt tok/s  vs avx2   gen tok/s  vs avx2   status")
    for flavour, row in out["flavours"].items():
        ok = row.get("status") == "ok"
        log(f"{flavour:<10} {row.get('prompt_tok_s', '') if ok else '':>12}  {row.get('prompt_vs_avx2', ''):>7}"
            f"   {row.get('gen_tok_s', '') if ok else '':>9}  {row.get('gen_vs_avx2', ''):>7}   {row['status']}")
    if json_path:
        json_path = Path(json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
        log(f"written to {json_path}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavours", nargs="+", choices=lb.BENCH_FLAVOURS, help="default: all")
    parser.add_argument("--build", action="store_true", help="compile the missing wheels first (long)")
    parser.add_argument("--prompt-tokens", type=int, default=600)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, help="default: physical cores")
    parser.add_argument("--model", type=Path, help="default: the default GGUF")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"default: {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    run(args.flavours, build=args.build, prompt_tokens=args.prompt_tokens, gen_tokens=args.gen_tokens, repeat=args.repeat,
        threads=args.threads, model=args.model, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
