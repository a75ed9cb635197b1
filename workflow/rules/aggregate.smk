# Seeds -> statistics, paired tests against each family's reference, and the claims table.


rule results:
    input:
        all_runs(),


rule aggregate:
    input:
        lib=ANALYSIS_SOURCES,
        runs=all_runs(),
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
    log:
        out("logs/aggregate.log"),
    conda:
        CONDA_ENV
    params:
        references=config["references"],
    script:
        "../scripts/aggregate.py"
