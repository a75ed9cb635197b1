"""Reliability diagrams of alpha = 0.7 without and with the loss at layer 2 (the calibration claim of the
EASE notes): exit 1 (where routing reads the confidence) and the final exit, bins pooled over seeds,
one column per method and one pair of rows per protocol: the diagram with the pooled ECE of each exit,
and below it the number of tokens in each bin (log scale), so that sparse bins are seen as sparse.

Snakemake: input reliability="results/reliability.csv"; output pdf="figures/fig_reliability.pdf",
png="figures/fig_reliability.png"; params methods (default alpha/a0.7 and l2/w1.0). Caption:
workflow/report/fig_reliability.rst.
"""

import matplotlib.pyplot as plt
import pandas as pd

from lash.analysis import figstyle as fs
from lash.analysis.script_io import snakemake_io

METHODS = ["alpha/a0.7", "l2/w1.0"]


def pooled_bins(rel: pd.DataFrame) -> pd.DataFrame:
    """Bins pooled over seeds: token counts summed, confidence and accuracy count-weighted."""
    rel = rel.assign(conf_sum=rel.confidence * rel["count"], acc_sum=rel.accuracy * rel["count"])
    keys = ["protocol", "method", "layer", "bin_low", "bin_high"]
    pooled = rel.groupby(keys, as_index=False)[["count", "conf_sum", "acc_sum"]].sum()
    pooled["confidence"] = pooled.conf_sum / pooled["count"]
    pooled["accuracy"] = pooled.acc_sum / pooled["count"]
    return pooled


def ece(bins: pd.DataFrame) -> float:
    """Expected calibration error of pooled bins: sum of |accuracy - confidence| weighted by count."""
    b = bins[bins["count"] > 0]
    return float(((b.accuracy - b.confidence).abs() * b["count"]).sum() / b["count"].sum())


def fig_reliability(reliability: pd.DataFrame, methods: list[str] | None = None):
    methods = methods or METHODS
    rel = reliability.assign(method=reliability.family + "/" + reliability.variant)
    rel = rel[rel.method.isin(methods) & (rel["count"] > 0)]
    protocols = fs.present(rel)
    if not protocols:
        return fs.empty_figure(f"no reliability data for {', '.join(methods)} in this build")
    methods = [m for m in methods if m in set(rel.method)]
    pooled = pooled_bins(rel)
    # A fixed layout (an outer grid of protocols, each a pair of rows: diagram, counts): constrained
    # layout's solver gave positions that differed in the last digit from one build to the next.
    fig = plt.figure(figsize=(2.9 * len(methods), 3.4 * len(protocols)))
    outer = fig.add_gridspec(len(protocols), 1, left=0.14, right=0.97, top=0.93, bottom=0.07, hspace=0.42)
    for i, protocol in enumerate(protocols):
        pair = outer[i].subgridspec(2, len(methods), height_ratios=[3, 1], hspace=0.08, wspace=0.45)
        for j, method in enumerate(methods):
            top = fig.add_subplot(pair[0, j])
            bottom = fig.add_subplot(pair[1, j], sharex=top)
            top.tick_params(labelbottom=False)
            d = pooled[(pooled.protocol == protocol) & (pooled.method == method)]
            final = int(d.layer.max()) if len(d) else 0
            top.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
            for layer, g in d.groupby("layer", sort=True):
                name = f"final (layer {layer})" if layer == final else f"exit {layer}"
                top.plot(g.confidence, g.accuracy, "o-", ms=2.5, lw=1, label=f"{name}: ECE {100 * ece(g):.1f}%")
                bottom.bar(g.bin_low, g["count"], width=g.bin_high - g.bin_low, align="edge", alpha=0.5,
                           label=name)
            plotted = rel[(rel.protocol == protocol) & (rel.method == method)]
            top.set(title=f"{fs.method_label(method)}\n{fs.protocol_title(plotted, protocol)}", xlim=(0, 1),
                    ylim=(0, 1), ylabel="accuracy")
            top.legend(fontsize=6, title=None)
            bottom.set(xlim=(0, 1), yscale="log", xlabel="confidence (max prob.)", ylabel="tokens")
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    fs.save_outputs(fig_reliability(pd.read_csv(inputs["reliability"]), params.get("methods")), outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
