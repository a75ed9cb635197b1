"""ASHEM phases: phase-1 against phase-2 PPL and hard-token PPL per variant and baseline; a placeholder
figure when the build has no ASHEM results. The published run was made on another corpus (the raw
variant, with another tokenization and vocabulary): its crosses are drawn only with a legend entry that
names that corpus, never as a point of our corpus's scale.

Snakemake: input runs="results/runs.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_ashem.pdf", png="figures/fig_ashem.png". Caption: workflow/report/fig_ashem.rst.
"""

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from lash.analysis import figstyle as fs
from lash.analysis.intervals import t_interval
from lash.analysis.script_io import load_yaml, snakemake_io


def fig_ashem(runs: pd.DataFrame, published_ashem: dict | None = None, published_corpus: dict | None = None):
    data = runs[runs.family == "ashem"]
    protocols = fs.present(data)
    if not protocols:
        return fs.empty_figure("no ASHEM results in this build")
    long = []
    for metric, label in (("ppl", "PPL"), ("hard_ppl", "Hard PPL")):
        for col, phase in ((f"phase1_{metric}", "phase 1"), (metric, "phase 2 / final")):
            if col in data:
                long.append(data[["protocol", "variant", "seed", col]].rename(columns={col: "value"})
                            .assign(metric=label, phase=phase))
    long = pd.concat(long).dropna(subset=["value"])
    long["label"] = ("ashem/" + long.variant).map(fs.method_label)
    order = sorted(long.label.unique(), key=lambda lab: (lab != "ASHEM", lab))
    metrics = [m for m in ("PPL", "Hard PPL") if m in set(long.metric)]
    fig, axes = plt.subplots(len(protocols), len(metrics), figsize=(3.4 * len(metrics), 2.8 * len(protocols)),
                             squeeze=False)
    legend = {}
    for i, protocol in enumerate(protocols):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            d = long[(long.protocol == protocol) & (long.metric == metric)]
            sns.barplot(data=d, y="label", x="value", hue="phase", order=order,
                        hue_order=["phase 1", "phase 2 / final"], errorbar=t_interval, capsize=0.2, ax=ax)
            key = {"PPL": ("phase1_ppl", "ppl"), "Hard PPL": ("phase1_hard_ppl", "hard_ppl")}[metric]
            if protocol == "original" and published_ashem and "ASHEM" in order:
                y = order.index("ASHEM")
                corpus = (published_corpus or {}).get("name", "another corpus")
                ax.scatter([published_ashem[k] for k in key if k in published_ashem], [y - 0.2, y + 0.2][:len(key)],
                           **{**fs.PUBLISHED, "label": f"published (seed 42) on {corpus}: another corpus"})
            ax.set(title=f"{metric}, {fs.protocol_title(data, protocol)}", xlabel=metric, ylabel=None)
            for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
                legend.setdefault(text, handle)
            ax.get_legend().remove()  # one legend for the figure, below the panels, covering no bar
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=len(legend), fontsize=7,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    cfg = load_yaml(inputs["claims_config"])
    fig = fig_ashem(pd.read_csv(inputs["runs"]), cfg.get("published_ashem"), cfg.get("published_ashem_corpus"))
    fs.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
