"""Threshold sweeps: perplexity against the layer compute fraction, one panel per setup (depth and exit
layer) and protocol, the mean over seeds as a line with a band of the 95 % t-interval of the perplexity
at each threshold (drawn at the mean compute). Each panel title says which weights the sweep evaluated,
read from the runs: the restored best weights, or the last epoch's weights (the original protocol
restores nothing, so its sweep is not of the reported epoch's model). The published sweep is overlaid
on its setup in the original protocol.

Snakemake: input sweep="results/sweep.csv", claims_config="config/claims.yaml"; output
pdf="figures/fig_sweep.pdf", png="figures/fig_sweep.png"; params methods (optional list of
family/variant). Caption: workflow/report/fig_sweep.rst.
"""

import matplotlib.pyplot as plt
import pandas as pd

from lash.analysis import figstyle as fs
from lash.analysis.intervals import mean_ci
from lash.analysis.script_io import load_yaml, snakemake_io

SWEEP_METHODS = ["sweep/exit2", "alpha/a0.5", "alpha/a0.7", "baselines/deep_supervision", "l2/w1.0", "ds_exit/t0.7"]


def _bands(d: pd.DataFrame) -> pd.DataFrame:
    """Per method and threshold: mean compute, and mean and 95 % t-interval of the perplexity."""
    rows = []
    for (method, threshold), g in d.groupby(["method", "threshold"], sort=True):
        ci = mean_ci(g.ppl)
        rows.append({"method": method, "threshold": threshold, "compute": g.compute_fraction_layers.mean(),
                     "ppl": ci["mean"], "low": ci["ci_low"], "high": ci["ci_high"]})
    return pd.DataFrame(rows)


def _weights(d: pd.DataFrame) -> str:
    restored = set(d.restore_best.dropna().astype(str).str.lower())
    return {"true": "restored best weights", "false": "last epoch's weights"}.get(
        restored.pop() if len(restored) == 1 else "", "mixed weights")


def fig_sweep(sweeps: pd.DataFrame, methods: list[str] | None = None, published_sweep: dict | None = None):
    methods = methods or SWEEP_METHODS
    sweeps = sweeps.assign(method=sweeps.family + "/" + sweeps.variant)
    sweeps = sweeps[sweeps.method.isin(methods)]
    protocols = fs.present(sweeps)
    if not protocols:
        return fs.empty_figure("no threshold sweeps in this build")
    setups = sorted(sweeps[["n_layers", "exit_layer"]].drop_duplicates().itertuples(index=False, name=None))
    fig, axes = plt.subplots(len(protocols), len(setups), figsize=(3.4 * len(setups), 2.8 * len(protocols)),
                             squeeze=False)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {m: palette[i % len(palette)] for i, m in enumerate(methods)}
    for i, protocol in enumerate(protocols):
        for j, (layers, exit_layer) in enumerate(setups):
            ax = axes[i][j]
            d = sweeps[(sweeps.protocol == protocol) & (sweeps.n_layers == layers) & (sweeps.exit_layer == exit_layer)]
            for method, b in _bands(d).groupby("method", sort=False) if len(d) else []:
                b = b.sort_values("threshold")
                ax.fill_between(b.compute, b.low, b.high, color=colours[method], alpha=0.2, lw=0)
                ax.plot(b.compute, b.ppl, "o-", ms=2.5, lw=1, color=colours[method], label=fs.method_label(method))
            pub_run = (published_sweep or {}).get("run")
            if protocol == "original" and pub_run in set(d.method):
                ax.plot(published_sweep["compute_fraction_layers"], published_sweep["ppl"], "x--", color="black",
                        lw=0.8, ms=4, label="published (seed 42)")
            title = f"{fs.protocol_title(d, protocol)}\n{layers:g} layers, exit {exit_layer:g}"
            ax.set(title=title + (f"; {_weights(d)}" if len(d) else ""), xlabel="compute fraction (layers)",
                   ylabel="PPL (mean, 95% CI band)")
            if len(d):
                ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def main(inputs, outputs, params):
    fs.setup_style()
    published = load_yaml(inputs["claims_config"]).get("published_sweep")
    fs.save_outputs(fig_sweep(pd.read_csv(inputs["sweep"]), params.get("methods"), published), outputs)


if "snakemake" in globals():
    main(*snakemake_io(globals()["snakemake"]))
