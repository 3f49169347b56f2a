"""environment.yml and the pip pins agree; the Makefile installs torch before the rest."""

import re

import yaml


def pins(root):
    out = {}
    for line in (root / "requirements/constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            out[re.sub(r"[-_.]+", "-", name.lower())] = version.split("+")[0]
    return out


def test_environment_yml_matches_constraints(root):
    env = yaml.safe_load((root / "environment.yml").read_text())
    want = pins(root)
    specs = [d for d in env["dependencies"] if isinstance(d, str)]
    specs += [d for d in next(d["pip"] for d in env["dependencies"] if isinstance(d, dict)) if "==" in d]
    checked = 0
    for spec in specs:
        m = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==?\s*([\w.]+)$", spec)
        if not m or m.group(1) == "python":
            continue
        name = re.sub(r"[-_.]+", "-", m.group(1).lower())
        assert name in want, f"{name} is in environment.yml but not pinned in constraints.txt"
        assert want[name] == m.group(2), f"{name}: environment.yml {m.group(2)} vs constraints.txt {want[name]}"
        checked += 1
    assert checked >= 20


def test_makefile_installs_cpu_torch_first(root):
    text = (root / "Makefile").read_text()
    assert text.index("install torch==2.13.0") < text.index("-e '.[")
