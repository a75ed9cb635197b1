#!/usr/bin/env bash
# The paper's rebuild from one clean commit, in a worktree of its own (README, "Rebuilding the paper"):
#   tools/rebuild.sh start    create ../build at $BUILD_COMMIT (once), seed it with the runs this checkout
#                             already holds from that commit, and build the missing ones in the background
#   tools/rebuild.sh collect  copy the worktree's finished runs, stage metrics and benchmark files into
#                             this checkout, with benchmarks/build.json (the build's wall time so far,
#                             and whether it is complete), ready to commit
#   tools/rebuild.sh status   how many of the design's runs exist from that commit, here and there
#   tools/rebuild.sh finish   once every run is built: collect, regenerate the statistics, figures, tables,
#                             numbers and PDF here, check that Snakemake has nothing left to do and the
#                             rebuild's acceptance (tools/check_rebuild.py), ready to commit together
# Only runs made at the build commit with a clean tree (provenance.git_sha, git_dirty) are ever copied,
# so nothing made by other code mixes in. Only missing runs are targets: a finished run is not redone
# because its intermediate stage files (not committed) are gone in a new session; an unfinished ASHEM
# chain restarts from its first stage (deterministic: the same bits).
set -euo pipefail
BUILD_COMMIT=${BUILD_COMMIT:-0106382}
DATA_DIR=${DATA_DIR:-../shared/data/wikitext-2}
CORES=${CORES:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$(dirname "$here")/build}
venv="$here/.venv/bin"

in_build() { (cd "$build" && env PATH="$venv:$PATH" PYTHONPATH="$build" "$@"); }

design_runs() {  # every run JSON of the paper config: the outputs a forced dry run of `results` plans
    in_build snakemake -n --forceall results --config data_dir="$DATA_DIR" 2>/dev/null \
        | grep -oE 'results/[^ ,]+/seed~[0-9]+\.json' | sort -u
}

from_build_commit() {  # those of the given files whose provenance names the build commit and a clean tree
    # -P: lash from this checkout (its venv), not from the worktree the caller may stand in
    "$venv/python" -P - "$BUILD_COMMIT" "$@" <<'PY'
import json, sys
from lash.analysis.runs import made_clean_at
commit, paths = sys.argv[1], sys.argv[2:]
for p in paths:
    try:
        prov = json.load(open(p))["provenance"]
    except (OSError, ValueError, KeyError):
        continue
    if made_clean_at(prov, commit):
        print(p)
PY
}

record_build() {  # benchmarks/build.json: the build's wall time, from the worktree's Snakemake logs
    # Each build command leaves .snakemake/log/<start>.snakemake.log, kept across sessions; a session's
    # share is the span from its first to its last job timestamp (a job a session's end cut off is
    # counted once, when a later session builds it again). $1: 1 when every run of the design exists.
    "$venv/python" - "$build" "$CORES" "$here/benchmarks/build.json" "$1" <<'PY'
import glob, json, os, re, sys
from datetime import datetime
build, cores, out, complete = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
stamp = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", re.M)
# sessions recorded before (their logs may be gone with an earlier worktree), updated by the logs here
sessions = {s["log"]: s for s in (json.load(open(out)).get("sessions", []) if os.path.isfile(out) else [])}
for log in sorted(glob.glob(os.path.join(build, ".snakemake", "log", "*.snakemake.log"))):
    text = open(log, encoding="utf-8").read()
    times = [datetime.strptime(" ".join(t.split()), "%a %b %d %H:%M:%S %Y") for t in stamp.findall(text)]
    jobs = len(re.findall(r"^Finished job", text, re.M))
    if times and jobs:
        sessions[os.path.basename(log)] = {"log": os.path.basename(log), "start": times[0].isoformat(),
                                           "end": times[-1].isoformat(), "finished_jobs": jobs,
                                           "seconds": (times[-1] - times[0]).total_seconds()}
sessions = [sessions[k] for k in sorted(sessions)]
record = {"wall_seconds": sum(s["seconds"] for s in sessions), "cores": cores, "complete": complete,
          "measured_as": "sum over the build's Snakemake sessions of first to last job timestamp",
          "sessions": sessions}
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w", encoding="utf-8") as fh:
    json.dump(record, fh, indent=1)
    fh.write("\n")
print(f"{out}: {record['wall_seconds'] / 3600:.2f} h over {len(sessions)} session(s), complete: {complete}")
PY
}

missing_runs() {  # the design's runs the worktree does not hold yet
    local f
    for f in $(design_runs); do [ -f "$build/$f" ] || echo "$f"; done
}

build_running() {  # a Snakemake process working in the worktree (this session's or an earlier command's)
    local pid
    for pid in $(pgrep -f 'snakemake' || true); do
        [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$build" ] && return 0
    done
    return 1
}

case "${1:-status}" in
start)
    if build_running; then
        echo "a build is already running in $build (log: $build/build.log)"; exit 0
    fi
    if [ ! -d "$build" ]; then
        git -C "$here" worktree add "$build" "$BUILD_COMMIT"
        rm -rf "$build"/results/*/ "$build"/benchmarks/snakemake
        (cd "$here" && from_build_commit $(git ls-files 'results/*seed~*.json' 'results/*/*.json')) |
        while read -r f; do
            mkdir -p "$build/$(dirname "$f")" && cp "$here/$f" "$build/$f"  # new mtime: newer than the code
        done
    fi
    missing=$(missing_runs)
    [ -n "$missing" ] || { echo "every run of the design is built"; exit 0; }
    echo "$(echo "$missing" | wc -l) runs to build in $build (log: $build/build.log)"
    # A lock left by a build whose session ended (no Snakemake runs there now, checked above).
    in_build snakemake --unlock --config data_dir="$DATA_DIR" >/dev/null
    cd "$build"
    # shellcheck disable=SC2086
    nohup env PATH="$venv:$PATH" PYTHONPATH="$build" snakemake $missing --cores "$CORES" \
        --config data_dir="$DATA_DIR" --keep-going --rerun-incomplete > "$build/build.log" 2>&1 &
    ;;
collect)
    cd "$build"
    from_build_commit $(find results -name '*.json' -path '*/*/*') | while read -r f; do
        mkdir -p "$here/$(dirname "$f")" && cp -p "$f" "$here/$f"
    done
    find benchmarks/snakemake -name '*.tsv' 2>/dev/null | while read -r f; do
        mkdir -p "$here/$(dirname "$f")" && cp -p "$f" "$here/$f"
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
    "$venv/snakemake" --cores "$CORES" --config data_dir="$DATA_DIR"
    "$venv/snakemake" -n --config data_dir="$DATA_DIR" 2>&1 | grep -q "Nothing to be done" ||
        { echo "snakemake -n still plans jobs in $here: see its dry run" >&2; exit 1; }
    "$venv/python" tools/check_rebuild.py --commit "$BUILD_COMMIT"
    echo "commit with: git add -A results benchmarks figures paper && git commit"
    ;;
status)
    [ -d "$build" ] || { echo "no build worktree at $build: tools/rebuild.sh start creates it" >&2; exit 1; }
    total=$(design_runs | wc -l)
    n_here=$(cd "$here" && from_build_commit $(find results -name 'seed~*.json') | wc -l)
    n_build=0  # no worktree yet
    [ ! -d "$build/results" ] || n_build=$(cd "$build" && from_build_commit $(find results -name 'seed~*.json') | wc -l)
    echo "runs of the design: $total; made at $BUILD_COMMIT: $n_here in this checkout, $n_build in $build"
    if build_running; then echo "the build is running (log: $build/build.log)"; else echo "no build is running"; fi
    ;;
*) echo "usage: tools/rebuild.sh start|collect|status|finish" >&2; exit 2 ;;
esac
