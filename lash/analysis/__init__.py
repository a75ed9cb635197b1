"""The analysis of the results (torch-free: pandas, scipy, matplotlib, seaborn).

runs             strict reading of run JSONs and the tidy run, sweep and reliability tables
checks           what the statistics may read: each run against its path, the workflow config, its seeds
expected         what the analysis rules expect, from the workflow (imported by the rules only)
intervals        the 95 % t-interval over seeds (summary.csv and every error bar)
stats            per-variant summaries, paired differences, epoch caps
verdicts         the verdict scheme: effects, intervals, Holm, TOST, yardsticks, labels
claims           config/claims.yaml -> claims.csv (every claim and question, with its label)
benches          benchmark records (results/bench_<name>.json) as claim data: times by round, settings
timing           the build's benchmark files -> timing.csv
ashem_provenance the published ASHEM run at seed 42 against the original code's printed numbers
labels           method labels for tables and figures
formatting       number formatting for the paper (and the GENERATED header)
naming           macro names (letters only)
macros           numbers.tex: macro names and values
claim_macros     numbers.tex: the claims' numbers, labels, tallies and generated sentences
tables           the generated booktabs tables
verdict_tables   the generated tables of the claims, the questions and the smallest effects
figstyle         the figures' shared style and save helpers (the plotting code lives in workflow/scripts/fig_*.py)
script_io        glue for workflow scripts (Snakemake's inputs, outputs and params; YAML; a clean exit)
writers          atomic text and JSON outputs (lash.io)
"""
