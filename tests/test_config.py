"""Config loading: defaults, typos and secrets."""

import pytest

from helpers.config import load_config
from helpers.errors import InputError


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_fill_in(tmp_path):
    cfg = load_config(write(tmp_path, "run_id: x\nretrieval: {top_k: 5}\n"))
    assert cfg["retrieval"]["top_k"] == 5 and cfg["segments"]["window_s"] == 160


def test_sample_config_loads(root):
    cfg = load_config(root / "configs/sample.yaml")
    assert cfg["run_id"] == "sample"


@pytest.mark.parametrize("text, field", [
    ("retreival: {top_k: 5}\n", "retreival"),
    ("retrieval: {topk: 5}\n", "retrieval.topk"),
    ("retrieval: {top_k: many}\n", "retrieval.top_k"),
    ("segments: {window_s: 60, overlap_s: 60}\n", "segments.overlap_s"),
    ("generator: {api_key: sk-123}\n", "generator.api_key"),
])
def test_errors_name_the_field(tmp_path, text, field):
    with pytest.raises(InputError) as err:
        load_config(write(tmp_path, text))
    assert f"'{field}'" in str(err.value) and "c.yaml" in str(err.value)


def test_secret_value_never_echoed(tmp_path):
    with pytest.raises(InputError) as err:
        load_config(write(tmp_path, "judge: {api_key: sk-very-secret}\n"))
    assert "sk-very-secret" not in str(err.value)


def test_bad_yaml_names_the_line(tmp_path):
    with pytest.raises(InputError, match="line 2"):
        load_config(write(tmp_path, "run_id: x\nretrieval: {top_k: 5]\nseed: 1\n"))
