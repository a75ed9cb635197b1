"""Effect of the layer-2 loss weight on alpha = 0.7: raw (unnormalised) against normalised weights, with
both published points (weight 0: the published alpha = 0.7 run; weight 1.0: the published "+L2" run).

Snakemake: input runs="results/runs.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_l2.pdf", png="figures/fig_l2.png". Caption: workflow/report/fig_l2.rst.
"""

import numpy as np
import pandas as pd

from lash.analysis import figstyle as fs
from lash.analysis.script_io import load_yaml, snakemake_io


def fig_l2(runs: pd.DataFrame, published: dict | None = None):
    l2 = runs[runs.family == "l2"].copy()
    protocols = fs.present(l2)
    if not protocols:
        return fs.empty_figure("no L2 runs in this build")
    l2["weight"] = l2.variant.str.extract(r"w([\d.]+)")[0].astype(float)
    l2["loss"] = np.where(l2.variant.str.endswith("n"), "normalised", "raw")
    base = runs[(runs.family == "alpha") & (runs.variant == "a0.7")]
    # weight 0 is alpha = 0.7 itself: the common starting point of both curves
    zero = pd.concat([base.assign(weight=0.0, loss=k) for k in ("raw", "normalised")])
    data = pd.concat([zero, l2], ignore_index=True)
    # both published points: weight 1.0 (the "+L2" run) and weight 0 (alpha = 0.7 itself)
    pub = {float(v[1:].rstrip("n")): p for v, p in fs.published_points(published, "l2").items()}
    alpha = fs.published_points(published, "alpha")
    if "a0.7" in alpha:
        pub[0.0] = alpha["a0.7"]
    fig, axes = fs.panels(protocols)
    for ax, protocol in zip(axes, protocols, strict=True):
        d = data[data.protocol == protocol]
        fs.seed_dots(ax, d, "weight", "ppl", color="grey")
        fs.mean_ci_line(ax, d, "weight", "ppl", hue="loss", hue_order=["raw", "normalised"])
        if protocol == "original" and pub:
            ax.scatter(list(pub), list(pub.values()), **fs.PUBLISHED)
        ax.set(title=fs.protocol_title(d, protocol), xlabel="loss weight at layer 2 (α = 0.7)",
               ylabel="headline PPL")
        ax.legend(title=None, fontsize=7)
    fig.tight_layout()
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_runs")
    fs.save_outputs(fig_l2(pd.read_csv(inputs["runs"]), published), outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
