"""Layer learning-rate schedules on alpha = 0.7: per-seed PPL, mean and 95 % CI, published values.

Snakemake: input runs="results/runs.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_lr.pdf", png="figures/fig_lr.png". Caption: workflow/report/fig_lr.rst.
"""

import pandas as pd
import seaborn as sns

from lash.analysis import figstyle as fs
from lash.analysis.intervals import t_interval
from lash.analysis.script_io import load_yaml, snakemake_io

LR_ORDER = ["uniform", "decreasing", "mild_decreasing", "mild_increasing", "increasing"]


def fig_lr(runs: pd.DataFrame, published: dict | None = None):
    lr = runs[runs.family == "lr"]
    protocols = fs.present(lr)
    if not protocols:
        return fs.empty_figure("no layer-LR runs in this build")
    uniform = runs[(runs.family == "alpha") & (runs.variant == "a0.7")].assign(variant="uniform")
    data = pd.concat([uniform, lr], ignore_index=True)
    order = [v for v in LR_ORDER if v in set(data.variant)] + sorted(set(data.variant) - set(LR_ORDER))
    pub = fs.published_points(published, "lr")
    alpha = fs.published_points(published, "alpha")
    if "a0.7" in alpha:
        pub["uniform"] = alpha["a0.7"]
    fig, axes = fs.panels(protocols, width=3.4)
    for ax, protocol in zip(axes, protocols, strict=True):
        d = data[data.protocol == protocol]
        fs.strip(ax, d, "variant", "ppl", order, alpha=0.6)
        sns.pointplot(data=d, x="variant", y="ppl", order=order, errorbar=t_interval, linestyle="none",
                      capsize=0.08, err_kws={"linewidth": 1.2}, ax=ax, label="mean, 95% CI")
        if protocol == "original" and pub:
            xs = [order.index(v) for v in pub if v in order]
            ax.scatter(xs, [pub[v] for v in pub if v in order], **fs.PUBLISHED)
        ax.set(title=fs.protocol_title(d, protocol), xlabel="layer LR scales (α = 0.7)", ylabel="headline PPL")
        ax.tick_params(axis="x", rotation=30, labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_runs")
    fs.save_outputs(fig_lr(pd.read_csv(inputs["runs"]), published), outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
