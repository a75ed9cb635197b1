"""The paper's figures: one shared style, one function per figure (data frames in, Figure out).

Error bars are 95 % t-intervals over seeds (lash.stats.t_interval), the same numbers as summary.csv;
PDFs are byte-stable (no creation date).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless and deterministic; before pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .report import METHOD_LABELS  # noqa: E402
from .stats import t_interval  # noqa: E402

PROTOCOLS = ["original", "corrected"]
PUBLISHED = dict(marker="X", s=60, color="black", zorder=5, label="published (seed 42)")
# LaTeX labels of report.METHOD_LABELS rendered as plain text for matplotlib
PLAIN = {"$\\alpha{=}": "α=", "$\\alpha$": "α", "\\ ": " ", "$": "", "\\": ""}


def plain(text: str) -> str:
    for a, b in PLAIN.items():
        text = text.replace(a, b)
    return text.replace("}", "")


def method_label(method: str) -> str:
    return plain(METHOD_LABELS.get(method, method))


def setup_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.0,
                  rc={"pdf.fonttype": 42, "figure.dpi": 100, "savefig.dpi": 200, "axes.titlesize": 9})


def save(fig, paths) -> None:
    """Write every .pdf/.png path; PDF without CreationDate so equal figures are equal bytes."""
    for path in paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"CreationDate": None} if path.suffix == ".pdf" else {}
        fig.savefig(path, metadata=meta, bbox_inches="tight")
    plt.close(fig)


def save_outputs(fig, outputs: dict) -> None:
    """Save to every output of a script (named pdf/png, or a positional list)."""
    paths = [p for v in outputs.values() for p in ([v] if isinstance(v, str) else v)]
    save(fig, [p for p in paths if str(p).endswith((".pdf", ".png"))])


def protocol_title(runs: pd.DataFrame, protocol: str) -> str:
    """'original protocol (fallback)': the corpus is read from the runs, so a smoke build says so."""
    corpora = sorted(runs.loc[runs.protocol == protocol, "corpus"].dropna().unique()) if "corpus" in runs else []
    return f"{protocol} protocol" + (f" ({', '.join(corpora)})" if corpora else "")


def _panels(protocols, width=3.2, height=2.6, sharey=False):
    n = max(len(protocols), 1)
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), sharey=sharey, squeeze=False)
    return fig, list(axes[0])


def _present(runs: pd.DataFrame, family: str | None = None) -> list[str]:
    sel = runs if family is None else runs[runs.family == family]
    return [p for p in PROTOCOLS if p in set(sel.protocol)]


def empty_figure(message: str):
    fig, ax = plt.subplots(figsize=(4, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def _published_points(published: dict, family: str) -> dict[str, float]:
    """variant -> published PPL for the runs of one family (claims.yaml published_runs)."""
    out = {}
    for pub in (published or {}).values():
        run = pub.get("run") or ""
        if run.startswith(family + "/") and pub.get("ppl") is not None:
            out[run.split("/", 1)[1]] = pub["ppl"]
    return out


def _mean_ci_line(ax, data, x, y, **kw):
    sns.lineplot(data=data, x=x, y=y, errorbar=t_interval, err_style="bars", marker="o", ax=ax,
                 err_kws={"capsize": 2}, **kw)


def _seeds(ax, data, x, y, **kw):
    sns.scatterplot(data=data, x=x, y=y, alpha=0.5, s=14, legend=False, ax=ax, **kw)


def fig_alpha(runs: pd.DataFrame, published: dict | None = None):
    data = runs[runs.family == "alpha"].copy()
    protocols = _present(data)
    if not protocols:
        return empty_figure("no alpha runs in this build")
    data["alpha"] = data.variant.str[1:].astype(float)
    pub = {float(v[1:]): p for v, p in _published_points(published, "alpha").items()}
    fig, axes = _panels(protocols)
    for ax, protocol in zip(axes, protocols):
        d = data[data.protocol == protocol]
        _seeds(ax, d, "alpha", "ppl", color="grey")
        _mean_ci_line(ax, d, "alpha", "ppl", label="mean, 95% CI")
        if protocol == "original" and pub:
            ax.scatter(list(pub), list(pub.values()), **PUBLISHED)
        ax.set(title=protocol_title(runs, protocol), xlabel="α (loss weight at exit 1)", ylabel="headline PPL")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def fig_l2(runs: pd.DataFrame, published: dict | None = None):
    l2 = runs[runs.family == "l2"].copy()
    protocols = _present(l2)
    if not protocols:
        return empty_figure("no L2 runs in this build")
    l2["weight"] = l2.variant.str.extract(r"w([\d.]+)")[0].astype(float)
    l2["loss"] = np.where(l2.variant.str.endswith("n"), "normalised", "raw")
    base = runs[(runs.family == "alpha") & (runs.variant == "a0.7")]
    # weight 0 is alpha = 0.7 itself: the common starting point of both curves
    zero = pd.concat([base.assign(weight=0.0, loss=k) for k in ("raw", "normalised")])
    data = pd.concat([zero, l2], ignore_index=True)
    fig, axes = _panels(protocols)
    for ax, protocol in zip(axes, protocols):
        d = data[data.protocol == protocol]
        _seeds(ax, d, "weight", "ppl", color="grey")
        _mean_ci_line(ax, d, "weight", "ppl", hue="loss", hue_order=["raw", "normalised"])
        pub = _published_points(published, "l2")
        if protocol == "original" and pub:
            ax.scatter([float(v[1:].rstrip("n")) for v in pub], list(pub.values()), **PUBLISHED)
        ax.set(title=protocol_title(runs, protocol), xlabel="loss weight at layer 2 (α = 0.7)",
               ylabel="headline PPL")
        ax.legend(title=None, fontsize=7)
    fig.tight_layout()
    return fig


LR_ORDER = ["uniform", "decreasing", "mild_decreasing", "mild_increasing", "increasing"]


def fig_lr(runs: pd.DataFrame, published: dict | None = None):
    lr = runs[runs.family == "lr"]
    protocols = _present(lr)
    if not protocols:
        return empty_figure("no layer-LR runs in this build")
    uniform = runs[(runs.family == "alpha") & (runs.variant == "a0.7")].assign(variant="uniform")
    data = pd.concat([uniform, lr], ignore_index=True)
    order = [v for v in LR_ORDER if v in set(data.variant)] + sorted(set(data.variant) - set(LR_ORDER))
    pub = _published_points(published, "lr")
    pub.update({"uniform": p for v, p in _published_points(published, "alpha").items() if v == "a0.7"})
    fig, axes = _panels(protocols, width=3.4)
    for ax, protocol in zip(axes, protocols):
        d = data[data.protocol == protocol]
        sns.stripplot(data=d, x="variant", y="ppl", order=order, color="grey", alpha=0.6, size=3, ax=ax)
        sns.pointplot(data=d, x="variant", y="ppl", order=order, errorbar=t_interval, linestyle="none",
                      capsize=0.08, err_kws={"linewidth": 1.2}, ax=ax, label="mean, 95% CI")
        if protocol == "original" and pub:
            xs = [order.index(v) for v in pub if v in order]
            ax.scatter(xs, [pub[v] for v in pub if v in order], **PUBLISHED)
        ax.set(title=protocol_title(runs, protocol), xlabel="layer LR scales (α = 0.7)", ylabel="headline PPL")
        ax.tick_params(axis="x", rotation=30, labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


SWEEP_METHODS = ["sweep/exit2", "alpha/a0.5", "alpha/a0.7", "baselines/deep_supervision", "l2/w1.0"]


def fig_sweep(sweeps: pd.DataFrame, methods: list[str] | None = None, published_sweep: dict | None = None):
    methods = methods or SWEEP_METHODS
    sweeps = sweeps.assign(method=sweeps.family + "/" + sweeps.variant)
    sweeps = sweeps[sweeps.method.isin(methods)]
    protocols = _present(sweeps)
    if not protocols:
        return empty_figure("no threshold sweeps in this build")
    kinds = [("compute_fraction_layers", "compute fraction (layers)"),
             ("compute_fraction_flops", "compute fraction (FLOPs incl. heads)")]
    mean = sweeps.groupby(["protocol", "method", "threshold"], as_index=False)[
        ["ppl", "compute_fraction_layers", "compute_fraction_flops"]].mean()
    mean["label"] = mean.method.map(method_label)
    order = [method_label(m) for m in methods if m in set(mean.method)]
    fig, axes = plt.subplots(len(protocols), 2, figsize=(6.6, 2.6 * len(protocols)), squeeze=False)
    for i, protocol in enumerate(protocols):
        for j, (col, xlabel) in enumerate(kinds):
            ax = axes[i][j]
            d = mean[mean.protocol == protocol].sort_values("threshold")
            sns.lineplot(data=d, x=col, y="ppl", hue="label", hue_order=order, marker="o", sort=False,
                         markersize=3, ax=ax, legend=(i == 0 and j == 1))
            pub_run = (published_sweep or {}).get("run")
            if protocol == "original" and j == 0 and pub_run in set(d.method):
                ax.plot(published_sweep["compute_fraction_layers"], published_sweep["ppl"], "x--",
                        color="black", lw=0.8, ms=4, label=f"published {method_label(pub_run)} (seed 42)")
                ax.legend(fontsize=6)
            ax.set(title=protocol_title(sweeps, protocol) if "corpus" in sweeps else f"{protocol} protocol",
                   xlabel=xlabel, ylabel="PPL (mean over seeds)")
    if axes[0][1].get_legend():
        sns.move_legend(axes[0][1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=6, title=None)
    fig.tight_layout()
    return fig


def fig_seeds(runs: pd.DataFrame, methods: list[str] | None = None):
    from .report import MAIN_METHODS

    data = runs.assign(method=runs.family + "/" + runs.variant)
    methods = [m for m in (methods or MAIN_METHODS) if m in set(data.method)]
    data = data[data.method.isin(methods)].copy()
    protocols = _present(data)
    if not protocols:
        return empty_figure("no runs in this build")
    data["label"] = data.method.map(method_label)
    order = [method_label(m) for m in methods]
    fig, axes = _panels(protocols, width=3.4, height=0.28 * len(order) + 1.0)
    for ax, protocol in zip(axes, protocols):
        d = data[data.protocol == protocol]
        sns.stripplot(data=d, y="label", x="ppl", order=order, color="grey", alpha=0.5, size=3, ax=ax)
        sns.pointplot(data=d, y="label", x="ppl", order=order, errorbar=t_interval, linestyle="none",
                      capsize=0.2, markersize=3, err_kws={"linewidth": 1.0}, ax=ax)
        ax.set(title=protocol_title(runs, protocol), xlabel="headline PPL (one dot per seed)", ylabel=None)
    fig.tight_layout()
    return fig


def fig_reliability(reliability: pd.DataFrame, method: str = "alpha/a0.7"):
    family, variant = method.split("/", 1)
    rel = reliability[(reliability.family == family) & (reliability.variant == variant) & (reliability["count"] > 0)]
    protocols = _present(rel)
    if not protocols:
        return empty_figure(f"no reliability data for {method} in this build")
    rel = rel.assign(conf_sum=rel.confidence * rel["count"], acc_sum=rel.accuracy * rel["count"])
    pooled = rel.groupby(["protocol", "layer", "bin_low"], as_index=False)[["count", "conf_sum", "acc_sum"]].sum()
    pooled["confidence"] = pooled.conf_sum / pooled["count"]
    pooled["accuracy"] = pooled.acc_sum / pooled["count"]
    final = int(rel.layer.max())
    pooled["exit"] = np.where(pooled.layer == final, f"final (layer {final})", "exit " + pooled.layer.astype(str))
    fig, axes = _panels(protocols, width=2.8, height=2.8)
    for ax, protocol in zip(axes, protocols):
        d = pooled[pooled.protocol == protocol]
        ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=0.8)
        sns.lineplot(data=d, x="confidence", y="accuracy", hue="exit", marker="o", markersize=3, ax=ax)
        ax.set(title=f"{method_label(method)}, {protocol}", xlabel="confidence (max prob.)",
               ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
        ax.legend(title=None, fontsize=7)
    fig.tight_layout()
    return fig


def fig_ashem(runs: pd.DataFrame, published_ashem: dict | None = None):
    data = runs[runs.family == "ashem"]
    protocols = _present(data)
    if not protocols:
        return empty_figure("no ASHEM results in this build")
    long = []
    for metric, label in (("ppl", "PPL"), ("hard_ppl", "Hard PPL")):
        for col, phase in ((f"phase1_{metric}", "phase 1"), (metric, "phase 2 / final")):
            if col in data:
                long.append(data[["protocol", "variant", "seed", col]].rename(columns={col: "value"})
                            .assign(metric=label, phase=phase))
    long = pd.concat(long).dropna(subset=["value"])
    long["label"] = ("ashem/" + long.variant).map(method_label)
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
                ax.scatter([published_ashem[k] for k in key if k in published_ashem], [y - 0.2, y + 0.2][:len(key)],
                           **PUBLISHED)
            ax.set(title=f"{metric}, {protocol_title(data, protocol)}", xlabel=metric, ylabel=None)
            for handle, text in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(text, handle)
            ax.get_legend().remove()  # one legend for the figure, below the panels, covering no bar
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=len(legend), fontsize=7,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
