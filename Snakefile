# The LASH reproduction: every experiment, statistic, table, figure and the paper PDF.
#   snakemake --cores 4                                  # the paper (config/config.yaml)
#   snakemake --cores 2 --configfile config/smoke.yaml   # the whole DAG in minutes (CI)
# See README.md for the rule table and how to rerun one rule.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/ashem.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/paper.smk"


onstart:
    check_before_jobs()  # the corpus and TeX, before any job starts (workflow/lib/preflight.py)


rule all:
    default_target: True
    input:
        rules.paper.output,
