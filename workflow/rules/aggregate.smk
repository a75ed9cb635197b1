# Seeds -> statistics. check_runs refuses any run file that does not match its path, the workflow
# config or the expected seeds (a rule of its own: Snakemake deletes a job's outputs before it runs,
# so a refusal here leaves the committed statistics in place); aggregate then computes the per-variant
# statistics, the paired tests against each family's reference, the claims with their verdicts and
# the epoch caps from exactly the checked files, and the claims measured on a benchmark record from
# that record (bench.smk), an input only where claims.yaml measures a claim on it. timing collects the
# training jobs' benchmark files;
# ashem_provenance compares the published ASHEM run at seed 42 with the original code's printed numbers.
from lash.analysis.benches import bench_names, bench_path
from lash.analysis.checks import strays
from lash.analysis.expected import (
    ashem_seed42_files,
    benchmark_jobs,
    counted,
    rule_of,
    rule_wildcards,
    settings_from_args,
)
from sources import import_closure

# The code inputs of each analysis rule: its script and the lash files the script runs (the import
# closure of the script, read as module workflow.scripts.<name>, through the lash package), so an
# edit reruns the rules whose scripts use the file, and only those.
SCRIPT_CODE = {
    path.stem: import_closure(ROOT, [f"workflow.scripts.{path.stem}", "lash"])
    for path in sorted((ROOT / "workflow" / "scripts").glob("*.py"))
}
# The benchmark records claims.yaml measures claims on: input bench_<name> of the rules that read them.
BENCH_INPUTS = {
    f"bench_{name}": out(bench_path(name))
    for name in bench_names(yaml.safe_load(Path("config/claims.yaml").read_text()))
}
# Each run's settings as its rule's command line gives them (the rules' own param functions).
RULE_ARGS = {
    "train": train_args,
    "train_provenance": provenance_args,
    "ashem_evaluate": ashem_variant_args,
    "ashem_baseline": ashem_baseline_args,
    "progressive": progressive_args,
}
RUN_SETTINGS = {
    path: settings_from_args(RULE_ARGS[rule_of(path, config)](rule_wildcards(path)))
    for path in all_runs()
}


rule results:
    input:
        all_runs(),


rule check_runs:
    input:
        code=SCRIPT_CODE["check_runs"],
        runs=all_runs(),
        claims="config/claims.yaml",
    output:
        manifest=out("results/checked_runs.json"),
    log:
        out("logs/check_runs.log"),
    params:
        expected={p: s for p, s in RUN_SETTINGS.items() if counted(p, config)},
        not_counted={p: s for p, s in RUN_SETTINGS.items() if not counted(p, config)},
        # A stray seed file is no input: as a param, a new one reruns the check.
        strays=lambda wildcards: strays(all_runs()),
    script:
        "../scripts/check_runs.py"


rule aggregate:
    input:
        unpack(lambda wildcards: BENCH_INPUTS),
        code=SCRIPT_CODE["aggregate"],
        checked=rules.check_runs.output.manifest,
        claims="config/claims.yaml",
    output:
        runs=out("results/runs.csv"),
        summary=out("results/summary.csv"),
        summary_json=out("results/summary.json"),
        paired=out("results/paired.csv"),
        claims=out("results/claims.csv"),
        claims_json=out("results/claims.json"),
        sweep=out("results/sweep.csv"),
        reliability=out("results/reliability.csv"),
        epoch_caps=out("results/epoch_caps.csv"),
    log:
        out("logs/aggregate.log"),
    params:
        references=config["references"],
    script:
        "../scripts/aggregate.py"


# The benchmark file of every training job behind the runs, and the published ASHEM run's files.
BENCHMARK_JOBS = benchmark_jobs(
    all_runs(),
    config,
    {
        name: str(getattr(rules, name).benchmark)
        for name in (
            "train",
            "train_provenance",
            "ashem_phase1",
            "ashem_phase2",
            "ashem_baseline",
            "progressive",
        )
    },
)
ASHEM_SEED42 = ashem_seed42_files(config, out)


rule timing:
    input:
        code=SCRIPT_CODE["timing"],
        runs=all_runs(),
    output:
        csv=out("results/timing.csv"),
    log:
        out("logs/timing.log"),
    params:
        jobs=BENCHMARK_JOBS,
        # The whole build's wall time, when the build recorded it (lash.analysis.timing).
        build_record=out("benchmarks/build.json"),
    script:
        "../scripts/timing.py"


rule ashem_provenance:
    input:
        unpack(lambda wildcards: ASHEM_SEED42),
        code=SCRIPT_CODE["ashem_provenance"],
        checked=rules.check_runs.output.manifest,
        claims_config="config/claims.yaml",
    output:
        csv=out("results/ashem_provenance.csv"),
    log:
        out("logs/ashem_provenance.log"),
    script:
        "../scripts/ashem_provenance.py"
