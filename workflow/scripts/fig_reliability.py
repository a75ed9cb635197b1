"""Reliability diagram of exit 1 and the final exit, bins pooled over seeds, one panel per protocol.

Snakemake: input reliability="results/reliability.csv"; output pdf="figures/fig_reliability.pdf",
png="figures/fig_reliability.png"; params method (default "alpha/a0.7"). Caption:
workflow/report/fig_reliability.rst.
"""

import numpy as np
import pandas as pd
import seaborn as sns

from lash.analysis import figstyle as fs
from lash.analysis.script_io import snakemake_io


def fig_reliability(reliability: pd.DataFrame, method: str = "alpha/a0.7"):
    family, variant = method.split("/", 1)
    rel = reliability[(reliability.family == family) & (reliability.variant == variant) & (reliability["count"] > 0)]
    protocols = fs.present(rel)
    if not protocols:
        return fs.empty_figure(f"no reliability data for {method} in this build")
    rel = rel.assign(conf_sum=rel.confidence * rel["count"], acc_sum=rel.accuracy * rel["count"])
    pooled = rel.groupby(["protocol", "layer", "bin_low"], as_index=False)[["count", "conf_sum", "acc_sum"]].sum()
    pooled["confidence"] = pooled.conf_sum / pooled["count"]
    pooled["accuracy"] = pooled.acc_sum / pooled["count"]
    final = int(rel.layer.max())
    pooled["exit"] = np.where(pooled.layer == final, f"final (layer {final})", "exit " + pooled.layer.astype(str))
    fig, axes = fs.panels(protocols, width=2.8, height=2.8)
    for ax, protocol in zip(axes, protocols):
        d = pooled[pooled.protocol == protocol]
        ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
        sns.lineplot(data=d, x="confidence", y="accuracy", hue="exit", marker="o", markersize=3, ax=ax,
                     seed=fs.RANDOM_SEED)
        ax.set(title=f"{fs.method_label(method)}, {protocol}", xlabel="confidence (max prob.)",
               ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
        ax.legend(title=None, fontsize=7)
    fig.tight_layout()
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    fig = fig_reliability(pd.read_csv(inputs["reliability"]), params.get("method", "alpha/a0.7"))
    fs.save_outputs(fig, outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
