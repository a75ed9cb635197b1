# Character-level training runs: one rule, one JSON per (family, protocol, variant, seed).


rule train:
    input:
        lash=TRAIN_SOURCES,
    output:
        out("results/{family}/{protocol}-{variant}/seed~{seed}.json"),
    log:
        out("logs/train/{family}/{protocol}-{variant}/seed~{seed}.log"),
    benchmark:
        out("benchmarks/snakemake/train/{family}/{protocol}-{variant}/seed~{seed}.tsv")
    threads: config["threads_per_run"]
    resources:
        mem_mb=2000,  # character level: well under 2 GB resident
        runtime=60,
        gpu=config["gpus_per_run"],
    params:
        args=train_args,
        # Outside the declared outputs: a failed or killed job resumes from its last epoch.
        checkpoints=out("checkpoints/train/{family}/{protocol}-{variant}/seed~{seed}"),
    shell:
        "lash train {params.args} --seed {wildcards.seed} --set train.threads={threads} "
        "--checkpoint-dir {params.checkpoints} --out {output} > {log} 2>&1"


rule train_provenance:
    input:
        lash=TRAIN_SOURCES,
    output:
        out("results/provenance/{corpus}-{preset}/seed~{seed}.json"),
    log:
        out("logs/provenance/{corpus}-{preset}/seed~{seed}.log"),
    benchmark:
        out("benchmarks/snakemake/provenance/{corpus}-{preset}/seed~{seed}.tsv")
    wildcard_constraints:
        corpus="fallback|wikitext2",
    threads: config["threads_per_run"]
    resources:
        mem_mb=2000,
        runtime=30,
        gpu=config["gpus_per_run"],
    params:
        args=provenance_args,
        checkpoints=out("checkpoints/provenance/{corpus}-{preset}/seed~{seed}"),
    shell:
        "lash train {params.args} --seed {wildcards.seed} --set train.threads={threads} "
        "--checkpoint-dir {params.checkpoints} --out {output} > {log} 2>&1"
