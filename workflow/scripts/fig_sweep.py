"""Threshold sweep Pareto fronts: PPL against compute fraction (layers; FLOPs with heads) per method.

Snakemake: input sweep="results/sweep.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_sweep.pdf", png="figures/fig_sweep.png"; params methods (optional list of
family/variant). Caption: workflow/report/fig_sweep.rst.
"""

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from lash.analysis import figstyle as fs
from lash.analysis.script_io import load_yaml, snakemake_io

SWEEP_METHODS = ["sweep/exit2", "alpha/a0.5", "alpha/a0.7", "baselines/deep_supervision", "l2/w1.0"]


def fig_sweep(sweeps: pd.DataFrame, methods: list[str] | None = None, published_sweep: dict | None = None):
    methods = methods or SWEEP_METHODS
    sweeps = sweeps.assign(method=sweeps.family + "/" + sweeps.variant)
    sweeps = sweeps[sweeps.method.isin(methods)]
    protocols = fs.present(sweeps)
    if not protocols:
        return fs.empty_figure("no threshold sweeps in this build")
    kinds = [("compute_fraction_layers", "compute fraction (layers)"),
             ("compute_fraction_flops", "compute fraction (FLOPs incl. heads)")]
    mean = sweeps.groupby(["protocol", "method", "threshold"], as_index=False)[
        ["ppl", "compute_fraction_layers", "compute_fraction_flops"]].mean()
    mean["label"] = mean.method.map(fs.method_label)
    order = [fs.method_label(m) for m in methods if m in set(mean.method)]
    fig, axes = plt.subplots(len(protocols), 2, figsize=(6.6, 2.6 * len(protocols)), squeeze=False)
    for i, protocol in enumerate(protocols):
        for j, (col, xlabel) in enumerate(kinds):
            ax = axes[i][j]
            d = mean[mean.protocol == protocol].sort_values("threshold")
            sns.lineplot(data=d, x=col, y="ppl", hue="label", hue_order=order, marker="o", sort=False,
                         markersize=3, ax=ax, legend=(i == 0 and j == 1), seed=fs.RANDOM_SEED)
            pub_run = (published_sweep or {}).get("run")
            if protocol == "original" and j == 0 and pub_run in set(d.method):
                ax.plot(published_sweep["compute_fraction_layers"], published_sweep["ppl"], "x--",
                        color="black", lw=0.8, ms=4, label=f"published {fs.method_label(pub_run)} (seed 42)")
                ax.legend(fontsize=6)
            ax.set(title=fs.protocol_title(sweeps, protocol) if "corpus" in sweeps else f"{protocol} protocol",
                   xlabel=xlabel, ylabel="PPL (mean over seeds)")
    if axes[0][1].get_legend():
        sns.move_legend(axes[0][1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=6, title=None)
    fig.tight_layout()
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_sweep")
    fs.save_outputs(fig_sweep(pd.read_csv(inputs["sweep"]), params.get("methods"), published), outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
