# Figures read only results/ (never retrain); one rule per figure, each with its plotting code in its
# own script, so editing one figure's code reruns only that figure and the paper. A figure's code
# inputs are its script and what the script imports (the shared style module lash.analysis.figstyle,
# the labels, the t-interval and the script glue), never the statistics code.


rule fig_forest:
    input:
        code=SCRIPT_CODE["fig_forest"],
        claims=out("results/claims.csv"),
        claims_config="config/claims.yaml",
    output:
        pdf=report(
            out("figures/fig_forest.pdf"),
            caption="../report/fig_forest.rst",
            category="Figures",
        ),
        png=out("figures/fig_forest.png"),
    log:
        out("logs/figures/fig_forest.log"),
    script:
        "../scripts/fig_forest.py"


rule fig_alpha:
    input:
        code=SCRIPT_CODE["fig_alpha"],
        runs=out("results/runs.csv"),
        claims_config="config/claims.yaml",
    output:
        pdf=report(
            out("figures/fig_alpha.pdf"),
            caption="../report/fig_alpha.rst",
            category="Figures",
        ),
        png=out("figures/fig_alpha.png"),
    log:
        out("logs/figures/fig_alpha.log"),
    script:
        "../scripts/fig_alpha.py"


rule fig_l2:
    input:
        code=SCRIPT_CODE["fig_l2"],
        runs=out("results/runs.csv"),
        claims_config="config/claims.yaml",
    output:
        pdf=report(
            out("figures/fig_l2.pdf"),
            caption="../report/fig_l2.rst",
            category="Figures",
        ),
        png=out("figures/fig_l2.png"),
    log:
        out("logs/figures/fig_l2.log"),
    script:
        "../scripts/fig_l2.py"


rule fig_lr:
    input:
        code=SCRIPT_CODE["fig_lr"],
        runs=out("results/runs.csv"),
        claims_config="config/claims.yaml",
    output:
        pdf=report(
            out("figures/fig_lr.pdf"),
            caption="../report/fig_lr.rst",
            category="Figures",
        ),
        png=out("figures/fig_lr.png"),
    log:
        out("logs/figures/fig_lr.log"),
    script:
        "../scripts/fig_lr.py"


rule fig_seeds:
    input:
        code=SCRIPT_CODE["fig_seeds"],
        runs=out("results/runs.csv"),
    output:
        pdf=report(
            out("figures/fig_seeds.pdf"),
            caption="../report/fig_seeds.rst",
            category="Figures",
        ),
        png=out("figures/fig_seeds.png"),
    log:
        out("logs/figures/fig_seeds.log"),
    script:
        "../scripts/fig_seeds.py"


rule fig_sweep:
    input:
        code=SCRIPT_CODE["fig_sweep"],
        sweep=out("results/sweep.csv"),
        claims_config="config/claims.yaml",
    output:
        pdf=report(
            out("figures/fig_sweep.pdf"),
            caption="../report/fig_sweep.rst",
            category="Figures",
        ),
        png=out("figures/fig_sweep.png"),
    log:
        out("logs/figures/fig_sweep.log"),
    script:
        "../scripts/fig_sweep.py"


rule fig_reliability:
    input:
        code=SCRIPT_CODE["fig_reliability"],
        reliability=out("results/reliability.csv"),
    output:
        pdf=report(
            out("figures/fig_reliability.pdf"),
            caption="../report/fig_reliability.rst",
            category="Figures",
        ),
        png=out("figures/fig_reliability.png"),
    log:
        out("logs/figures/fig_reliability.log"),
    script:
        "../scripts/fig_reliability.py"


rule fig_ashem:
    input:
        code=SCRIPT_CODE["fig_ashem"],
        runs=out("results/runs.csv"),
        claims_config="config/claims.yaml",
    output:
        pdf=report(
            out("figures/fig_ashem.pdf"),
            caption="../report/fig_ashem.rst",
            category="Figures",
        ),
        png=out("figures/fig_ashem.png"),
    log:
        out("logs/figures/fig_ashem.log"),
    script:
        "../scripts/fig_ashem.py"


rule figures:
    input:
        FIGURES,
