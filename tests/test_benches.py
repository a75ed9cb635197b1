"""Benchmark records as claim data (lash.analysis.benches): results/bench_<name>.json read strictly, each
problem named with its field; the benchmarks claims.yaml needs; the settings macros."""

import json

import pytest
from fake_results import FAKE_BENCH_EVERY, fake_bench

from lash.analysis import benches as B
from lash.analysis.macros import Macros
from lash.errors import DataError


def _edited(tmp_path, edit):
    path = fake_bench(tmp_path / "results" / "bench_fast_path.json")
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))
    return path


def test_a_record_reads_into_times_by_round(tmp_path):
    record = B.read_bench(fake_bench(tmp_path / "b.json"), "fast_path")
    every = B.round_times(record, "fast_path", "every_exit")
    assert every.index.tolist() == [1, 2, 3] and every.tolist() == FAKE_BENCH_EVERY
    with pytest.raises(DataError, match="results/bench_fast_path.json: no contender 'every' "
                                        r"\(it has every_exit, last_exit_only\)"):
        B.round_times(record, "fast_path", "every")


@pytest.mark.parametrize("edit, problem", [
    (lambda r: r.update(benchmark="train"), "`benchmark` is 'train', not 'fast_path'"),
    (lambda r: r.pop("contenders"), "no `settings` and `contenders` objects"),
    (lambda r: r["contenders"]["every_exit"]["step_s"].pop(), "`contenders.every_exit.step_s` is not a list of "
                                                              "`settings.rounds` = 3 times"),
    (lambda r: r["contenders"]["last_exit_only"]["step_s"].__setitem__(1, -0.5),
     "`contenders.last_exit_only.step_s` holds -0.5, not a positive number of seconds"),
    (lambda r: r["contenders"]["last_exit_only"]["step_s"].__setitem__(0, "1.0"), "holds '1.0'"),
    (lambda r: r.pop("provenance"), "no `provenance` object with `git_sha`"),
])
def test_a_bad_record_is_refused_naming_the_field(tmp_path, edit, problem):
    path = _edited(tmp_path, edit)
    with pytest.raises(DataError) as err:
        B.read_bench(path, "fast_path")
    assert str(path) in str(err.value) and problem in str(err.value) and "Fix:" in str(err.value)


def test_a_record_with_a_nan_is_refused(tmp_path):
    path = fake_bench(tmp_path / "b.json")
    path.write_text(path.read_text().replace("1.2", "NaN", 1))
    with pytest.raises(DataError, match="non-standard JSON literal NaN"):
        B.read_bench(path, "fast_path")


def test_only_the_benchmarks_a_claim_needs_are_read(tmp_path):
    config = {"claims": [{"id": "A", "measure": {"bench": "fast_path"}}, {"id": "B", "measure": None}],
              "questions": [{"id": "C", "measure": {"family": "alpha"}}]}
    assert B.bench_names(config) == ["fast_path"] and B.bench_names({"claims": []}) == []
    assert B.bench_path("fast_path") == "results/bench_fast_path.json"
    assert B.read_benches({}, {"claims": []}) == {}
    with pytest.raises(DataError, match="no input `bench_fast_path`.*Fix: add results/bench_fast_path.json"):
        B.read_benches({"claims": "config/claims.yaml"}, config)
    record = B.read_benches({"bench_fast_path": str(fake_bench(tmp_path / "b.json"))}, config)
    assert list(record) == ["fast_path"]


def test_the_settings_become_macros(tmp_path):
    m = Macros()
    B.add_bench_macros(m, {"fast_path": B.read_bench(fake_bench(tmp_path / "b.json"), "fast_path")})
    assert m.tex["benchFastPathRounds"] == "3" and m.tex["benchFastPathSteps"] == "4"
    assert m.tex["benchFastPathVocab"] == "33{,}278" and m.tex["benchFastPathLayers"] == "3"
    assert m.tex["benchFastPathCpu"] == r"Fake CPU\_9"
