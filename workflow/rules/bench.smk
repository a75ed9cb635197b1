# Benchmarks that claims are measured on (lash.analysis.benches). bench_fast_path times one training
# step of the Standard 3-layer word-level model with the head at the last exit only against the head
# after every block (the published fast path, PAPER_SPEC 5.2), round by round; one thread, so that the
# two contenders, interleaved in one process, share the same core and the ratio compares their work.
# Its code inputs are the import closure of lash.bench (not the command line's parsing).
BENCH_SOURCES = sources(ROOT, "lash.bench")


rule bench_fast_path:
    input:
        lash=BENCH_SOURCES,
    output:
        out("results/bench_fast_path.json"),
    log:
        out("logs/bench_fast_path.log"),
    threads: 1
    resources:
        mem_mb=2000,  # about 0.85 GB resident (measured, vocabulary 33,278)
        runtime=15,
    params:
        rounds=config["bench_fast_path"]["rounds"],
        steps=config["bench_fast_path"]["steps"],
    shell:
        "lash bench fast-path --rounds {params.rounds} --steps {params.steps} "
        "--threads {threads} --out {output} > {log} 2>&1"
