"""The paper's generated tables: main results, provenance, ASHEM, the settings, the build's timing and
the seed-42 ASHEM run against the original code (the verdict tables: lash.analysis.verdict_tables).

Every table file is a complete `tabular` environment (booktabs rules, no float, no caption): the paper
wraps it as `\\begin{table}...\\input{generated/tab_x}...\\caption{...}\\end{table}`.
"""

from __future__ import annotations

import pandas as pd

from .formatting import GENERATED, fmt, metric_kind
from .labels import MAIN_METHODS, METHOD_LABELS, PROTOCOL_TITLES, label


def tabular(script: str, colspec: str, ncols: int, head: list[str], rows: list[str], note: str = "") -> str:
    out = [GENERATED.format(script=script).rstrip("\n")]
    if note:
        out.append(f"% {note}")
    out += [f"\\begin{{tabular}}{{{colspec}}}", r"\toprule", *head, r"\midrule"]
    out += rows or [rf"\multicolumn{{{ncols}}}{{c}}{{No results in this build.}} \\"]
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out) + "\n"


def _stat(summary: pd.DataFrame, method: str, protocol: str, metric: str) -> dict | None:
    family, variant = method.split("/", 1)
    sel = summary[(summary.family == family) & (summary.variant == variant) & (summary.protocol == protocol)
                  & (summary.metric == metric)]
    return None if sel.empty else sel.iloc[0].to_dict()


def mean_sd(st: dict | None, kind: str, n_expected: int | None = None) -> str:
    """'22.95 $\\pm$ 1.20'; one seed shows '(n=1)' instead of a spread; fewer seeds than the
    column's usual number are marked."""
    if st is None:
        return "--"
    text = fmt(st["mean"], kind)[1]
    text += r" {\scriptsize(n=1)}" if st["n"] == 1 else f" $\\pm$ {fmt(st['sd'], kind)[1]}"
    if n_expected and st["n"] not in (1, n_expected):
        text += f"$^{{n={st['n']}}}$"
    return text


def _modal_n(summary: pd.DataFrame, protocol: str) -> int | None:
    n = summary[(summary.protocol == protocol) & (summary.metric == "ppl")].n
    return int(n.mode().iloc[0]) if len(n) else None


def table_main(summary: pd.DataFrame, methods: list[str] | None = None,
               protocols=("original", "corrected")) -> str:
    metrics = [("ppl", "PPL"), ("acc", r"Acc.\,\%"), ("shallow_fraction", r"Exit\,\%"),
               ("compute_fraction_layers", r"Comp.\,\%")]
    methods = [mm for mm in (methods or MAIN_METHODS)
               if any(_stat(summary, mm, p, "ppl") for p in protocols)]
    ns = {p: _modal_n(summary, p) for p in protocols}
    head = [" & " + " & ".join(f"\\multicolumn{{{len(metrics)}}}{{c}}{{{PROTOCOL_TITLES.get(p, p)}"
                               + (f" ($n{{=}}{ns[p]}$ seeds)" if ns[p] else "") + "}" for p in protocols) + r" \\",
            " ".join(f"\\cmidrule(lr){{{2 + i * len(metrics)}-{1 + (i + 1) * len(metrics)}}}"
                     for i in range(len(protocols))),
            "Method & " + " & ".join(h for _ in protocols for _, h in metrics) + r" \\"]
    rows = []
    for mm in methods:
        cells = [mean_sd(_stat(summary, mm, p, met), metric_kind(met), ns[p]) for p in protocols for met, _ in metrics]
        rows.append(label(mm) + " & " + " & ".join(cells) + r" \\")
    return tabular("workflow/scripts/tables.py", "l" + "r" * len(metrics) * len(protocols),
                    1 + len(metrics) * len(protocols), head, rows,
                    "mean $\\pm$ sd over seeds; headline split (original: best-epoch validation; corrected: test)")


def table_provenance(summary: pd.DataFrame, claims_config: dict, corpora=("fallback", "wikitext2")) -> str:
    published = claims_config.get("published_runs") or {}
    present = set(summary[summary.family == "provenance"].variant)
    corpus_titles = {"fallback": "Fallback", "wikitext2": "WikiText-2"}
    printed = claims_config.get("original_code_char_seed42") or {}
    head = [r" & \multicolumn{4}{c}{PPL} & \multicolumn{3}{c}{Compute (layers) \%} \\",
            r"\cmidrule(lr){2-5} \cmidrule(lr){6-8}",
            "Method & Published & Orig.\\ code & " + " & ".join(f"{corpus_titles.get(c, c)} rerun" for c in corpora)
            + " & Published & " + " & ".join(f"{corpus_titles.get(c, c)} rerun" for c in corpora) + r" \\"]
    rows = []
    for preset in list(published) + sorted(present - set(published)):
        pub = published.get(preset, {})
        if preset not in present and not pub:
            continue
        cells = []
        for metric in ("ppl", "compute_fraction_layers"):
            kind = metric_kind(metric)
            cells.append(fmt(pub.get(metric), kind)[1] if pub.get(metric) is not None else "--")
            if metric == "ppl":  # what the original code prints at the published seed (CPU re-run)
                cells.append(fmt(printed[preset], kind)[1] if preset in printed else "--")
            for c in corpora:
                st = _stat(summary, f"provenance/{preset}", c, metric)
                cells.append(fmt(st["mean"], kind)[1] if st else "--")
        rows.append(pub.get("label", label(preset)) + " & " + " & ".join(cells) + r" \\")
    return tabular("workflow/scripts/tables.py", "l" + "r" * (3 + 2 * len(corpora)), 4 + 2 * len(corpora), head, rows,
                    "seed 42, one run each (no spread); original training quirks on both corpora; Orig. code = "
                    "the original code re-run on a CPU (PAPER_SPEC section 0)")


def table_ashem(summary: pd.DataFrame, claims_config: dict, protocols=("original", "corrected")) -> str:
    cols = [("phase1_ppl", r"PPL$_\mathrm{I}$"), ("ppl", "PPL"), ("phase1_hard_ppl", r"Hard$_\mathrm{I}$"),
            ("hard_ppl", "Hard"),
            ("shallow_fraction", r"Exit\,\%"), ("compute_fraction_layers", r"Layers\,\%"),
            ("compute_fraction_flops", r"FLOPs\,\%"), ("speedup_ideal", r"Ideal\,$\times$"),
            ("speedup_measured", r"Meas.\,$\times$")]
    head = ["Method & " + " & ".join(h for _, h in cols) + r" \\"]
    rows = []
    pub = claims_config.get("published_ashem") or {}
    if pub:
        corpus = (claims_config.get("published_ashem_corpus") or {}).get("name", "another corpus")
        rows.append(f"Published ASHEM (seed 42, {corpus}) & " + " & ".join(
            fmt(pub[m], metric_kind(m))[1] if pub.get(m) is not None else "--" for m, _ in cols) + r" \\")
    words = summary[summary.family.isin(["ashem", "progressive"])]
    for p in protocols:
        sel = words[words.protocol == p]
        methods = sorted(set(sel.family + "/" + sel.variant),
                         key=lambda mm: (list(METHOD_LABELS).index(mm) if mm in METHOD_LABELS else 99, mm))
        if not methods:
            continue
        rows.append(r"\midrule")
        rows.append(f"\\multicolumn{{{1 + len(cols)}}}{{l}}{{\\emph{{{PROTOCOL_TITLES.get(p, p)}}}}} \\\\")
        n = _modal_n(words, p)
        for mm in methods:
            rows.append(label(mm) + " & " + " & ".join(
                mean_sd(_stat(words, mm, p, m), metric_kind(m), n) for m, _ in cols) + r" \\")
    has_runs = not words.empty
    if not has_runs:
        rows.append(rf"\multicolumn{{{1 + len(cols)}}}{{c}}{{No ASHEM results in this build.}} \\")
    return tabular("workflow/scripts/tables.py", "l" + "r" * len(cols), 1 + len(cols), head, rows,
                    "mean $\\pm$ sd over word-level seeds; subscript I = phase 1; Hard = PPL on the mined hard tokens; "
                    "Ideal / Meas. = speed-up of skip-mode over full inference, counted / timed")


# --------------------------------------------------------------------------- settings table

SETUP_ROWS = [  # (row label, path into the resolved config)
    ("Corpus", "data.corpus"), ("Tokens", "data.level"), ("Train / val / test size", None),
    ("Vocabulary built from", "data.vocab_from"), ("Sequence length", "data.seq_len"),
    ("Batch size", "data.batch_size"), ("Layers", "model.n_layers"), ("Width", "model.dim"),
    ("Heads", "model.n_heads"), ("Learning rate", "train.lr"), ("Weight decay", "train.weight_decay"),
    ("Max.\\ epochs", "train.max_epochs"), ("Patience", "train.patience"),
    ("Best weights restored", "train.restore_best"), ("Exit layer", "eval.exit_layer"),
]


def _get(config: dict, path: str):
    for key in path.split("."):
        config = config[key]
    return config


def _tex(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "all"
    text = str(value)
    for a, b in (("_", "\\_"), ("+", "\\,+\\,")):
        text = text.replace(a, b)
    return text


def caps_cell(caps: pd.DataFrame, family: str, protocol: str) -> str:
    """'0 of 45 (0.0\\,\\%)': the family's runs in that protocol that reached their epoch cap without
    stopping early (results/epoch_caps.csv)."""
    sel = caps[(caps.family == family) & (caps.protocol == protocol)]
    if sel.empty or not sel.n_known.iloc[0]:
        return "not recorded"
    r = sel.iloc[0]
    return f"{int(r.n_capped)} of {int(r.n_known)} ({fmt(r.share_capped, 'frac')[1]}\\,\\%)"


def setup_table(columns: dict[str, dict], caps: dict[str, str] | None = None) -> str:
    """A booktabs tabular of the settings of representative runs: {column title: resolved config};
    `caps` ({column title: text}) adds the row of runs that reached their epoch cap."""
    lines = [GENERATED.format(script="workflow/scripts/tab_setup.py"),
             "\\begin{tabular}{l" + "l" * len(columns) + "}", "\\toprule",
             " & ".join(["Setting", *columns]) + " \\\\", "\\midrule"]
    for row_label, path in SETUP_ROWS:
        cells = []
        for config in columns.values():
            if path is None:
                d = config["data"]
                cells.append(" / ".join(_tex(d[k]) for k in ("train_size", "val_size", "test_size")))
            else:
                cells.append(_tex(_get(config, path)))
        lines.append(" & ".join([row_label, *cells]) + " \\\\")
    if caps is not None:
        lines.append(" & ".join(["Runs at the epoch cap", *(caps.get(t, "--") for t in columns)]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the build

def table_timing(timing: pd.DataFrame) -> str:
    """Per family and rule: jobs (and missing benchmark files), summed and median wall time, peak
    resident memory (results/timing.csv)."""
    head = [r"Family & Rule & Jobs & Total (h) & Median (min) & Peak RSS (GB) \\"]
    rows = []
    for r in timing.itertuples(index=False):
        if r.rule == "wall":
            continue
        missing = f" ({int(r.n_missing)} missing)" if r.n_missing else ""
        name = "all jobs" if r.family == "all" else r.family.replace("_", r"\_")
        rule = "" if r.rule == "all" else r.rule.replace("_", r"\_")
        if r.rule == "all" and r.family != "all":
            rule = "all"
        rows.append(f"{name} & {rule} & {int(r.n_jobs)}{missing} & {fmt(r.total_s / 3600, 'num1')[1]} & "
                    f"{fmt(r.median_s / 60, 'num1')[1]} & {fmt(r.max_rss_mb / 1024, 'num1')[1]} \\\\")
    return tabular("workflow/scripts/tables.py", "llrrrr", 6, head, rows,
                   "Snakemake benchmark files of the training jobs; total = the jobs' wall seconds summed")


def table_ashem_seed42(table: pd.DataFrame) -> str:
    """The seed-42 ASHEM run against the numbers the original code prints (results/ashem_provenance.csv)."""
    head = [r"Quantity & Original code (printed) & This run & Same digits \\"]
    rows = []
    numbers = table[~table.key.astype(str).str.startswith("setting:")] if len(table) else table
    for r in numbers.itertuples(index=False):
        digits = int(r.decimals)
        ours = "n/a" if pd.isna(r.ours) else f"{r.ours:.{digits}f}"
        same = "yes" if str(r.match).lower() == "true" else "no"
        rows.append(f"{r.label} & {float(r.printed):.{digits}f} & {ours} & {same} \\\\")
    return tabular("workflow/scripts/tables.py", "lrrl", 4, head, rows,
                   "config/claims.yaml original_code_ashem_seed42; this run: results/ashem_stages/original/seed~42")
