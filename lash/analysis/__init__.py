"""The analysis of the results (torch-free: pandas, scipy, matplotlib, seaborn).

runs       strict reading of run JSONs and the tidy run, sweep and reliability tables
checks     what the statistics may read: each run against its path, the workflow config, its seeds
expected   what check_runs expects of each run, from the workflow (imported by the rules only)
intervals  the 95 % t-interval over seeds (summary.csv and every error bar)
stats      per-variant summaries, paired tests, claim verdicts
labels     method labels for tables and figures
formatting number formatting for the paper (and the GENERATED header)
macros     numbers.tex: macro names and values
tables     the generated booktabs tables
figstyle   the figures' shared style and save helpers (the plotting code lives in workflow/scripts/fig_*.py)
script_io  glue for workflow scripts (Snakemake's inputs, outputs and params; YAML; a clean exit)
writers    atomic text and JSON outputs (lash.io)
"""
