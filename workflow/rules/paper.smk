# Generated numbers and tables, then the PDF. The paper depends on every section, table, figure
# and the numbers file, so a change to any of them rebuilds it.


rule numbers:
    input:
        unpack(lambda wildcards: BENCH_INPUTS),
        code=SCRIPT_CODE["numbers"],
        runs=out("results/runs.csv"),
        summary=out("results/summary.csv"),
        paired=out("results/paired.csv"),
        claims=out("results/claims.csv"),
        claims_config="config/claims.yaml",
        timing=rules.timing.output.csv,
        ashem_provenance=rules.ashem_provenance.output.csv,
    output:
        tex=out("paper/generated/numbers.tex"),
        json=out("paper/generated/numbers.json"),
    log:
        out("logs/numbers.log"),
    params:
        seeds=config["seeds"],
        word_seeds=config["word_seeds"],
        published_seed=config["published_seed"],
    script:
        "../scripts/numbers.py"


rule tables:
    input:
        code=SCRIPT_CODE["tables"],
        summary=out("results/summary.csv"),
        claims=out("results/claims.csv"),
        claims_config="config/claims.yaml",
        timing=rules.timing.output.csv,
        ashem_provenance=rules.ashem_provenance.output.csv,
    output:
        claims=out("paper/generated/tab_claims.tex"),
        questions=out("paper/generated/tab_questions.tex"),
        deltas=out("paper/generated/tab_deltas.tex"),
        main=out("paper/generated/tab_main.tex"),
        provenance=out("paper/generated/tab_provenance.tex"),
        ashem=out("paper/generated/tab_ashem.tex"),
        timing=out("paper/generated/tab_timing.tex"),
        ashem_seed42=out("paper/generated/tab_ashem_seed42.tex"),
    log:
        out("logs/tables.log"),
    script:
        "../scripts/tables.py"


rule paper:
    input:
        tex="paper/main.tex",
        sections=sorted(glob.glob("paper/sections/*.tex")),
        bib="paper/refs.bib",
        numbers=rules.numbers.output.tex,
        tables=rules.tables.output,
        setup=out("paper/generated/tab_setup.tex"),
        figures=FIGURES,
    output:
        out("paper/build/main.pdf"),
    log:
        out("logs/paper.log"),
    params:
        build=out("paper/build/src"),
    shell:
        "bash workflow/scripts/build_paper.sh {params.build} {input.tex} {input.bib} "
        "paper/sections {input.numbers} {input.tables} {input.setup} -- {input.figures} > {log} 2>&1"


rule tables_and_numbers:
    input:
        rules.numbers.output,
        rules.tables.output,
        out("paper/generated/tab_setup.tex"),


rule tab_setup:
    input:
        code=SCRIPT_CODE["tab_setup"],
        runs=setup_runs(),
        caps=out("results/epoch_caps.csv"),
    output:
        tex=out("paper/generated/tab_setup.tex"),
    log:
        out("logs/tab_setup.log"),
    params:
        titles=SETUP_TITLES,
    script:
        "../scripts/tab_setup.py"
