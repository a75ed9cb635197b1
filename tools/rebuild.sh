#!/usr/bin/env bash
# The paper's rebuild from one clean commit, in a worktree of its own (README, "Rebuilding the paper"):
#   tools/rebuild.sh start    create ../build at $BUILD_COMMIT and one worktree per AMENDED commit (once),
#                             seed them with the runs this checkout already holds from their commits, and
#                             build the missing ones in the background
#   tools/rebuild.sh collect  copy the worktree's finished runs, stage metrics and benchmark files into
#                             this checkout, with benchmarks/build.json (the build's wall time so far,
#                             and whether it is complete), ready to commit
#   tools/rebuild.sh status   how many of the design's runs exist from that commit, here and there
#   tools/rebuild.sh finish   once every run is built: collect, regenerate the statistics, figures, tables,
#                             numbers and PDF here, check that Snakemake has nothing left to do and the
#                             rebuild's acceptance (tools/check_rebuild.py), ready to commit together
# A run directory in AMENDED is rebuilt alone at a later commit that changes one of its settings and no
# training code, in a worktree of its own (../build-<family>), after the main build (start runs one build
# at a time). Only runs made with a clean tree at their commit (provenance.git_sha, git_dirty) are ever
# copied, so nothing made by other code mixes in. Only missing runs are targets: a finished run is not redone
# because its intermediate stage files (not committed) are gone in a new session; an unfinished ASHEM
# chain restarts from its first stage (deterministic: the same bits).
set -euo pipefail
BUILD_COMMIT=${BUILD_COMMIT:-0106382}
# <family>/<protocol>-<variant>=<commit> ...: every corrected threshold-sweep run reached its 30-epoch cap
# at the build commit, still improving; 7d14654 raises that cap to 150 and nothing else (issue 12, item 1).
AMENDED=${AMENDED:-sweep/corrected-exit2=7d14654}
DATA_DIR=${DATA_DIR:-../shared/data/wikitext-2}
CORES=${CORES:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$(dirname "$here")/build}
venv="$here/.venv/bin"

# worktree of an amended run directory: ../build-<family>
amend_dir() { echo "$build-${1%%/*}"; }
amend_commit() { local spec; for spec in $AMENDED; do [ "${spec%%=*}" != "$1" ] || echo "${spec#*=}"; done; }
worktrees() {  # "<dir> <commit> <run directory or ->" of each build: the main one, then each amended
    local spec
    echo "$build $BUILD_COMMIT -"
    for spec in $AMENDED; do echo "$(amend_dir "${spec%%=*}") ${spec#*=} ${spec%%=*}"; done
}

in_build() { (cd "$build" && env PATH="$venv:$PATH" PYTHONPATH="$build" "$@"); }

design_runs() {  # every run JSON of the paper config: the outputs a forced dry run of `results` plans
    in_build snakemake -n --forceall results --config data_dir="$DATA_DIR" 2>/dev/null \
        | grep -oE 'results/[^ ,]+/seed~[0-9]+\.json' | sort -u
}

from_build_commit() {  # those of the given files made with a clean tree at the build commit, or at their
    # run directory's amending commit; -P: lash from this checkout, not from the worktree the caller is in
    "$venv/python" -P - "$BUILD_COMMIT" "$AMENDED" "$@" <<'PY'
import json, sys
from lash.analysis.runs import made_clean_at, parse_amended, rebuild_commit
commit, amended, paths = sys.argv[1], parse_amended(sys.argv[2].split()), sys.argv[3:]
for p in paths:
    try:
        prov = json.load(open(p))["provenance"]
    except (OSError, ValueError, KeyError):
        continue
    if made_clean_at(prov, rebuild_commit(p, commit, amended)):
        print(p)
PY
}

record_build() {  # benchmarks/build.json: the build's wall time, from the worktree's Snakemake logs
    # Each build command leaves .snakemake/log/<start>.snakemake.log, kept across sessions; a session's
    # share is the span from its first to its last job timestamp (a job a session's end cut off is
    # counted once, when a later session builds it again). $1: 1 when every run of the design exists.
    # shellcheck disable=SC2046
    "$venv/python" - "$CORES" "$here/benchmarks/build.json" "$1" $(worktrees | cut -d' ' -f1) <<'PY'
import glob, json, os, re, sys
from datetime import datetime
cores, out, complete, builds = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", sys.argv[4:]
stamp = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", re.M)
# sessions recorded before (their logs may be gone with an earlier worktree), updated by the logs here
sessions = {s["log"]: s for s in (json.load(open(out)).get("sessions", []) if os.path.isfile(out) else [])}
for log in sorted(p for b in builds for p in glob.glob(os.path.join(b, ".snakemake", "log", "*.snakemake.log"))):
    text = open(log, encoding="utf-8").read()
    times = [datetime.strptime(" ".join(t.split()), "%a %b %d %H:%M:%S %Y") for t in stamp.findall(text)]
    jobs = len(re.findall(r"^Finished job", text, re.M))
    if times and jobs:
        sessions[os.path.basename(log)] = {"log": os.path.basename(log), "start": times[0].isoformat(),
                                           "end": times[-1].isoformat(), "finished_jobs": jobs,
                                           "seconds": (times[-1] - times[0]).total_seconds()}
sessions = [sessions[k] for k in sorted(sessions)]
wall, covered_to = 0.0, None  # the union of the sessions' spans: builds side by side count once
for s in sorted(sessions, key=lambda s: s["start"]):
    start, end = datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"])
    start = max(start, covered_to or start)
    if end > start:
        wall += (end - start).total_seconds()
    covered_to = max(end, covered_to or end)
record = {"wall_seconds": wall, "cores": cores, "complete": complete,
          "measured_as": "the union over the builds' Snakemake sessions of first to last job timestamp",
          "sessions": sessions}
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w", encoding="utf-8") as fh:
    json.dump(record, fh, indent=1)
    fh.write("\n")
print(f"{out}: {record['wall_seconds'] / 3600:.2f} h over {len(sessions)} session(s), complete: {complete}")
PY
}

missing_runs() {  # "<worktree> <run>" of each run of the design its worktree does not hold yet
    local f dir
    for f in $(design_runs); do
        dir=$(dirname "${f#results/}")
        if [ -n "$(amend_commit "$dir")" ]; then dir=$(amend_dir "$dir"); else dir=$build; fi
        [ -f "$dir/$f" ] || echo "$dir $f"
    done
}

running_in() {  # the worktree a Snakemake process works in (this session's or an earlier command's)
    local pid dir
    for pid in $(pgrep -f 'snakemake' || true); do
        dir=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
        # a here-string, not a pipe: grep -q leaving early would break the pipe (pipefail)
        grep -qxF "$dir" <<<"$(worktrees | cut -d' ' -f1)" && { echo "$dir"; return 0; }
    done
    return 1
}

own_benchmarks() {  # the benchmark files of a worktree: those of its run directory $1, or (-) all but the
    # amended directories' (the main build's files of those are superseded)
    local f spec skip
    find benchmarks/snakemake -name '*.tsv' 2>/dev/null | while read -r f; do
        if [ "$1" != - ]; then
            case "$f" in */"$1"/*) echo "$f" ;; esac
            continue
        fi
        skip=
        for spec in $AMENDED; do case "$f" in */"${spec%%=*}"/*) skip=1 ;; esac; done
        [ -n "$skip" ] || echo "$f"
    done
}

new_worktree() {  # worktree $1 at commit $2, seeded with the runs this checkout holds from their build
    # commit, so that only runs missing here are built there
    git -C "$here" worktree add "$1" "$2"
    rm -rf "$1"/results/*/ "$1"/benchmarks/snakemake
    (cd "$here" && from_build_commit $(git ls-files 'results/*seed~*.json' 'results/*/*.json')) |
    while read -r f; do
        mkdir -p "$1/$(dirname "$f")" && cp "$here/$f" "$1/$f"  # new mtime: newer than the code
    done
}

case "${1:-status}" in
start)
    if dir=$(running_in); then
        echo "a build is already running in $dir (log: $dir/build.log)"; exit 0
    fi
    worktrees | while read -r dir commit _; do [ -d "$dir" ] || new_worktree "$dir" "$commit"; done
    missing=$(missing_runs)
    [ -n "$missing" ] || { echo "every run of the design is built"; exit 0; }
    dir=$(echo "$missing" | head -1 | cut -d' ' -f1)  # one build at a time: the main one first
    runs=$(echo "$missing" | grep "^$dir " | cut -d' ' -f2)
    echo "$(echo "$runs" | wc -l) runs to build in $dir (log: $dir/build.log)"
    # A lock left by a build whose session ended (no Snakemake runs there now, checked above).
    (cd "$dir" && env PATH="$venv:$PATH" PYTHONPATH="$dir" snakemake --unlock --config data_dir="$DATA_DIR" >/dev/null)
    cd "$dir"
    # shellcheck disable=SC2086
    nohup env PATH="$venv:$PATH" PYTHONPATH="$dir" snakemake $runs --cores "$CORES" \
        --config data_dir="$DATA_DIR" --keep-going --rerun-incomplete > "$dir/build.log" 2>&1 &
    ;;
collect)
    worktrees | while read -r dir _ amended_dir; do
        [ -d "$dir" ] || continue
        cd "$dir"
        from_build_commit $(find results -name '*.json' -path '*/*/*') | while read -r f; do
            mkdir -p "$here/$(dirname "$f")" && cp -p "$f" "$here/$f"
        done
        own_benchmarks "$amended_dir" | while read -r f; do
            mkdir -p "$here/$(dirname "$f")" && cp -p "$f" "$here/$f"
        done
    done
    n_missing=$(missing_runs | wc -l)
    record_build "$([ "$n_missing" = 0 ] && echo 1 || echo 0)"
    echo "collected into $here ($n_missing runs of the design still to build);"
    echo "commit with: git add results benchmarks && git commit"
    ;;
finish)
    "$0" collect
    [ "$(missing_runs | wc -l)" = 0 ] || { echo "the build is not complete: run tools/rebuild.sh start" >&2; exit 1; }
    cd "$here"
    export PATH="$venv:$PATH"  # the jobs' shell commands (lash, latexmk's python) from this environment
    snakemake --cores "$CORES" --config data_dir="$DATA_DIR"
    # the whole dry run first: grep -q stopping early would break the pipe (pipefail)
    dry_run=$(snakemake -n --config data_dir="$DATA_DIR" 2>&1)
    grep -q "Nothing to be done" <<<"$dry_run" ||
        { echo "snakemake -n still plans jobs in $here: see its dry run" >&2; exit 1; }
    # shellcheck disable=SC2086
    "$venv/python" tools/check_rebuild.py --commit "$BUILD_COMMIT" --amended $AMENDED
    echo "commit with: git add -A results benchmarks figures paper && git commit"
    ;;
status)
    [ -d "$build" ] || { echo "no build worktree at $build: tools/rebuild.sh start creates it" >&2; exit 1; }
    total=$(design_runs | wc -l)
    n_here=$(cd "$here" && from_build_commit $(find results -name 'seed~*.json') | wc -l)
    echo "runs of the design: $total; made at their build commit ($BUILD_COMMIT; amended: $AMENDED):"
    echo "  $n_here in this checkout, $((total - $(missing_runs | wc -l))) in the build worktrees"
    if dir=$(running_in); then echo "a build is running in $dir (log: $dir/build.log)"; else echo "no build is running"; fi
    ;;
*) echo "usage: tools/rebuild.sh start|collect|status|finish" >&2; exit 2 ;;
esac
