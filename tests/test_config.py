"""Config loading: defaults, typos and secrets."""

import pytest
import yaml

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
    ("generator: {min_groundedness: 4}\n", "generator.min_groundedness"),
    ("generator: {min_groundedness: -0.5}\n", "generator.min_groundedness"),
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


@pytest.mark.parametrize("section, key, value, field", [
    ("judge", "correctness_variant", "oracle", "judge.correctness_variant"),
    ("lab", "variants", ["fewshot-en", "oracle"], "lab.variants[1]"),
    ("lab", "combine_with", "oracle", "lab.combine_with"),
])
def test_unknown_correctness_variant_is_an_error_naming_file_and_field(tmp_path, section, key, value, field):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({section: {key: value}}), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_config(path)
    assert err.value.field == field and "bad.yaml" in str(err.value) and "fewshot-en" in str(err.value)


def test_a_combined_feature_the_lab_does_not_score_is_an_error_naming_it(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"lab": {"variants": ["fewshot-en"], "combine_features": ["token_f1", "diff-en"]}}),
                    encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_config(path)
    assert err.value.field == "lab.combine_features[1]" and "'diff-en'" in str(err.value) and "token_f1" in str(err.value)
    path.write_text(yaml.safe_dump({"lab": {"variants": ["fewshot-en", "diff-en"], "combine_features": ["diff-en"]}}),
                    encoding="utf-8")
    assert load_config(path)["lab"]["combine_features"] == ["diff-en"]


def test_every_shipped_config_loads(root):
    for path in sorted((root / "configs").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg["run_id"]


@pytest.mark.parametrize("text, field", [
    ("index: {type: lsh}\n", "index.type"),
    ("index: {type: hnsw, hnsw_ef_search: -1}\n", "index.hnsw_ef_search"),
    ("index: {type: ivf, ivf_nprobe: 2.5}\n", "index.ivf_nprobe"),
    ("index: {type: hnsw, hnsw_m: 1}\n", "index.hnsw_m"),
    ("index: {type: ivf, nprobe: 8}\n", "index.nprobe"),
])
def test_index_errors_name_the_field(tmp_path, text, field):
    with pytest.raises(InputError) as err:
        load_config(write(tmp_path, text))
    assert err.value.field == field and "c.yaml" in str(err.value)


def test_index_options_reach_the_notebook(tmp_path):
    from helpers.runs import stage_parameters

    params = stage_parameters("01_build_index", load_config(write(tmp_path, "index: {type: ivf, ivf_nprobe: 40}\n")), tmp_path)
    assert params["index_type"] == "ivf" and params["index_options"] == {"ivf_nprobe": 40}  # 0s stay out: build_index's presets
    assert stage_parameters("01_build_index", load_config(write(tmp_path, "run_id: x\n")), tmp_path)["index_options"] == {}
