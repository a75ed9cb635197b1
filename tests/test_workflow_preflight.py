"""workflow/lib/preflight.py: the checks before the workflow plans or runs anything (unit level; the
end-to-end refusals are in tests/test_bad_inputs_workflow.py)."""

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "lib"))
import preflight  # noqa: E402
from preflight import PreflightError  # noqa: E402

from lash.config import PRESETS, choices  # noqa: E402

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
KERNELS = choices("train.kernels")


def paper_config():
    return yaml.safe_load((REPO / "config/config.yaml").read_text()) | {"kernels": "fast"}  # + the default


def test_command_line_strings_become_the_declared_types():
    config = {"seeds": ["0", "1"], "word_seeds": ["3"], "offline": "true", "smoke": "False",
              "threads_per_run": "2", "output_root": "7", "published_seed": 42}
    preflight.coerce_command_line_values(config, SCHEMA)
    assert config == {"seeds": [0, 1], "word_seeds": [3], "offline": True, "smoke": False,
                      "threads_per_run": 2, "output_root": "7", "published_seed": 42}


def test_a_non_integer_seed_stays_a_string_for_the_schema_to_refuse():
    config = {"seeds": ["0", "a", "1.5"]}
    preflight.coerce_command_line_values(config, SCHEMA)
    assert config["seeds"] == [0, "a", "1.5"]


def test_unknown_keys_get_the_closest_known_one():
    with pytest.raises(PreflightError, match=r"`sedes`\. Did you mean `seeds`\?.*Fix"):
        preflight.check_keys({"sedes": [0]}, SCHEMA)
    with pytest.raises(PreflightError, match=r"`ashem\.baseline_protocol`\. Did you mean `baseline_protocols`"):
        preflight.check_keys({"ashem": {"baseline_protocol": []}}, SCHEMA)
    with pytest.raises(PreflightError, match=r"`progressive\.xyz`\. Fix"):  # nothing close: no guess
        preflight.check_keys({"progressive": {"xyz": 1}}, SCHEMA)
    preflight.check_keys(paper_config(), SCHEMA)  # variants are lash settings, not checked here


def test_the_paper_config_names_only_existing_presets_families_and_variants():
    preflight.check_names(paper_config(), PRESETS, KERNELS)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["families"]["lr"]["decreasing"].update(preset="discriminative_decreasin"),
     r"preset `discriminative_decreasin` at `families\.lr\.decreasing\.preset`\. Did you mean "
     r"`discriminative_decreasing`"),
    (lambda c: c["families"]["sweep"]["exit2"]["corrected"].update(preset="treshold_sweep"),
     r"`families\.sweep\.exit2\.corrected\.preset`\. Did you mean `threshold_sweep`"),
    (lambda c: c["references"].update(l2="alpha/a0.75"), r"variant `a0\.75` at `references\.l2`"),
    (lambda c: c.update(only={"alhpa": ["a0.1"]}), r"family `alhpa` at `only\.alhpa`\. Did you mean `alpha`"),
    (lambda c: c["ashem"]["baselines"].update(baseline_deep="ashem_baseline_dep"),
     r"preset `ashem_baseline_dep_corrected` at `ashem\.baselines\.baseline_deep`"),
    (lambda c: c["progressive"]["variants"].update(standard="progressive"),
     r"preset `progressive` at `progressive\.variants\.standard`"),
    (lambda c: c["word_seeds"].append(42), r"ashem\.provenance_seed 42 is also one of word_seeds"),
    (lambda c: c.update(kernels="refrence"), r"kernels `refrence` at `kernels`\. Did you mean `reference`"),
])
def test_a_wrong_name_is_refused_with_a_fix(edit, message):
    config = paper_config()
    edit(config)
    with pytest.raises(PreflightError, match=message) as exc:
        preflight.check_names(config, PRESETS, KERNELS)
    assert "Fix: " in str(exc.value)


def test_one_spelling_of_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    expected = str((tmp_path / "data").resolve())
    for spelling in ("data", "data/", "./data", str(tmp_path / "data"), "link", "../" + tmp_path.name + "/data"):
        assert preflight.normalised_data_dir(spelling, None) == expected, spelling
        assert preflight.normalised_data_dir(None, spelling) == expected, spelling
    assert preflight.normalised_data_dir("data", "/elsewhere") == expected  # --config wins
    assert preflight.normalised_data_dir(None, "") is None and preflight.normalised_data_dir(None, None) is None


def test_which_jobs_read_wikitext2():
    assert preflight.reads_wikitext2("--preset asymmetric --set 'protocol=\"corrected\"'")
    assert not preflight.reads_wikitext2("--preset asymmetric --set 'protocol=\"original\"'")  # fallback text
    assert preflight.reads_wikitext2("--preset ashem_original")  # word level, both protocols
    assert not preflight.reads_wikitext2("--preset ashem_original --smoke --set train.max_epochs=3")
    # the device is the job machine's business: a CPU-only submitting machine still plans a GPU run
    assert preflight.reads_wikitext2("--preset asymmetric --set 'train.device=\"cuda\"'")


def test_tex_missing_is_named(monkeypatch):
    monkeypatch.setattr(preflight.shutil, "which", lambda prog: None if prog == "latexmk" else f"/bin/{prog}")
    with pytest.raises(PreflightError, match=r"latexmk is not on PATH\. Fix: install TeX"):
        preflight.check_before_jobs([("paper", None)], None, False)
    preflight.check_before_jobs([("aggregate", None), ("train", "--preset asymmetric --smoke")], None, False)


def test_offline_or_an_unreachable_hub_without_data_dir_is_refused_at_once(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    job = [("train", "--preset ashem_corrected")]
    with pytest.raises(PreflightError, match=r"offline=True, but no data_dir.*Fix: pass a local copy"):
        preflight.check_before_jobs(job, None, True)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(PreflightError, match=r"hub \(127\.0\.0\.1\) cannot be reached.*--config data_dir="):
        preflight.check_before_jobs(job, None, False)


def test_a_job_with_invalid_lash_settings_is_refused_before_it_starts():
    with pytest.raises(PreflightError, match=r"lash settings are invalid.*train\.max_epoch"):
        preflight.check_before_jobs([("train", "--preset asymmetric --set train.max_epoch=3 --smoke")], None,
                                    False)


def test_data_dir_is_checked_with_the_lash_loader(tmp_path):
    with pytest.raises(PreflightError, match=f"data_dir={tmp_path}/none does not give the verified corpus"):
        preflight.check_before_jobs([("train", "--preset ashem_corrected")], str(tmp_path / "none"), False)


def test_the_schema_allows_the_values_lash_allows():
    """Values with a meaning in lash are lash's (lash.config.choices): the schema must not drift (the
    kernels are checked against lash itself, so the schema does not list them)."""
    props = SCHEMA["properties"]
    assert "enum" not in props["kernels"]
    assert set(props["protocols"]["propertyNames"]["enum"]) == set(choices("protocol"))
    assert set(props["provenance"]["properties"]["corpora"]["items"]["enum"]) <= set(choices("data.corpus"))
    for section in ("ashem", "progressive"):
        for key, spec in props[section]["properties"].items():
            enum = spec.get("propertyNames", spec.get("items", {})).get("enum")
            if enum:
                assert set(enum) == set(choices("protocol")), (section, key)
