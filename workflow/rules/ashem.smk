# ASHEM (word level): phase 1 -> threshold and mining -> phase 2 -> two-stage evaluation, each stage
# its own rule; plus the fair baselines and progressive layer training. Model checkpoints live under
# checkpoints/ (not committed); every stage's metrics under results/. Priorities: common.smk.
# mem_mb: phase 1 reached 8 GB resident and phase 2 11 GB at one thread (seed 42, measured); the
# other word-level rules get phase 2's until they are measured.


rule ashem_phase1:
    input:
        lash=ASHEM_SOURCES,
    output:
        ckpt=out("checkpoints/ashem/{protocol}/seed~{seed}/phase1.pt"),
        json=out("results/ashem_stages/{protocol}/seed~{seed}/phase1.json"),
    log:
        out("logs/ashem/{protocol}/seed~{seed}/phase1.log"),
    benchmark:
        out("benchmarks/snakemake/ashem/{protocol}/seed~{seed}/phase1.tsv")
    priority: PRIORITY_FIRST
    threads: ashem_threads
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=config["gpus_per_run"],
    params:
        env=ashem_environment,
        args=ashem_args,
        # Outside the declared outputs: a failed or killed job resumes from its last epoch.
        checkpoints=out("checkpoints/resume/ashem/{protocol}/seed~{seed}/phase1"),
    shell:
        "{params.env}lash ashem phase1 {params.args} --seed {wildcards.seed} --set train.threads={threads} "
        "--checkpoint {output.ckpt} --checkpoint-dir {params.checkpoints} --out {output.json} > {log} 2>&1"


rule ashem_mine:
    input:
        lash=ASHEM_SOURCES,
        phase1=rules.ashem_phase1.output.ckpt,
    output:
        mined=out("checkpoints/ashem/{protocol}/seed~{seed}/mined.pt"),
        json=out("results/ashem_stages/{protocol}/seed~{seed}/mine.json"),
    log:
        out("logs/ashem/{protocol}/seed~{seed}/mine.log"),
    priority: PRIORITY_FIRST
    threads: ashem_threads
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=config["gpus_per_run"],
    params:
        env=ashem_environment,
        args=ashem_args,
    shell:
        "{params.env}lash ashem mine {params.args} --seed {wildcards.seed} --set train.threads={threads} "
        "--phase1 {input.phase1} --out {output.mined} --summary {output.json} > {log} 2>&1"


rule ashem_phase2:
    input:
        lash=ASHEM_SOURCES,
        phase1=rules.ashem_phase1.output.ckpt,
        mined=rules.ashem_mine.output.mined,
    output:
        ckpt=out("checkpoints/ashem/{protocol}/seed~{seed}/phase2-{variant}.pt"),
        json=out("results/ashem_stages/{protocol}/seed~{seed}/phase2-{variant}.json"),
    log:
        out("logs/ashem/{protocol}/seed~{seed}/phase2-{variant}.log"),
    benchmark:
        out("benchmarks/snakemake/ashem/{protocol}/seed~{seed}/phase2-{variant}.tsv")
    wildcard_constraints:
        variant=ASHEM_VARIANTS,
    priority: phase2_priority
    threads: ashem_threads
    resources:
        mem_mb=11000,
        runtime=240,
        gpu=config["gpus_per_run"],
    params:
        env=ashem_environment,
        args=ashem_variant_args,
        checkpoints=out("checkpoints/resume/ashem/{protocol}/seed~{seed}/phase2-{variant}"),
    shell:
        "{params.env}lash ashem phase2 {params.args} --seed {wildcards.seed} --set train.threads={threads} "
        "--phase1 {input.phase1} --mined {input.mined} --checkpoint {output.ckpt} "
        "--checkpoint-dir {params.checkpoints} --out {output.json} > {log} 2>&1"


rule ashem_evaluate:
    input:
        lash=ASHEM_SOURCES,
        phase2=rules.ashem_phase2.output.ckpt,
        mined=rules.ashem_mine.output.mined,
    output:
        out("results/ashem/{protocol}-{variant}/seed~{seed}.json"),
    log:
        out("logs/ashem/{protocol}/seed~{seed}/evaluate-{variant}.log"),
    wildcard_constraints:
        variant=ASHEM_VARIANTS,
    priority: phase2_priority
    threads: ashem_threads
    resources:
        mem_mb=11000,
        runtime=60,
        gpu=config["gpus_per_run"],
    params:
        env=ashem_environment,
        args=ashem_variant_args,
    shell:
        "{params.env}lash ashem evaluate {params.args} --seed {wildcards.seed} --set train.threads={threads} "
        "--phase2 {input.phase2} --mined {input.mined} --out {output} > {log} 2>&1"


rule ashem_baseline:
    input:
        lash=ASHEM_SOURCES,
        mined=rules.ashem_mine.output.mined,
        match=out("results/ashem/{protocol}-ashem/seed~{seed}.json"),
    output:
        out("results/ashem/{protocol}-{baseline}/seed~{seed}.json"),
    log:
        out("logs/ashem/{protocol}/seed~{seed}/{baseline}.log"),
    benchmark:
        out("benchmarks/snakemake/ashem/{protocol}/seed~{seed}/{baseline}.tsv")
    wildcard_constraints:
        baseline=ASHEM_BASELINES,
    priority: PRIORITY_FIRST
    # One thread: with two, the routed baseline's evaluation once grew to 24 GB and was OOM-killed
    # (1.4 GB with one); the committed baselines were made this way.
    threads: 1
    resources:
        mem_mb=11000,
        runtime=240,
        gpu=config["gpus_per_run"],
    params:
        args=ashem_baseline_args,
        checkpoints=out("checkpoints/resume/ashem/{protocol}/seed~{seed}/{baseline}"),
    shell:
        "lash ashem baseline {params.args} --seed {wildcards.seed} --set train.threads={threads} "
        "--mined {input.mined} --match {input.match} --checkpoint-dir {params.checkpoints} "
        "--out {output} > {log} 2>&1"


rule progressive:
    input:
        lash=ASHEM_SOURCES,
    output:
        out("results/progressive/{protocol}-{variant}/seed~{seed}.json"),
    log:
        out("logs/progressive/{protocol}-{variant}/seed~{seed}.log"),
    benchmark:
        out("benchmarks/snakemake/progressive/{protocol}-{variant}/seed~{seed}.tsv")
    priority: PRIORITY_PROGRESSIVE
    threads: config["ashem"]["threads"]
    resources:
        mem_mb=11000,
        runtime=240,
        gpu=config["gpus_per_run"],
    params:
        args=progressive_args,
        checkpoints=out("checkpoints/resume/progressive/{protocol}-{variant}/seed~{seed}"),
    shell:
        "lash progressive {params.args} --seed {wildcards.seed} --set train.threads={threads} "
        "--checkpoint-dir {params.checkpoints} --out {output} > {log} 2>&1"
