#!/usr/bin/env bash
# The paper's rebuild from one clean commit, in a worktree of its own (README, "Rebuilding the paper"):
#   tools/rebuild.sh start    create ../build at $BUILD_COMMIT (once), seed it with the runs this checkout
#                             already holds from that commit, and build the missing ones in the background
#   tools/rebuild.sh collect  copy the worktree's finished runs, stage metrics and benchmark files into
#                             this checkout, ready to commit
#   tools/rebuild.sh status   how many of the design's runs exist from that commit, here and there
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
    "$venv/python" - "$BUILD_COMMIT" "$@" <<'PY'
import json, sys
commit, paths = sys.argv[1], sys.argv[2:]
for p in paths:
    try:
        prov = json.load(open(p))["provenance"]
    except (OSError, ValueError, KeyError):
        continue
    if (prov.get("git_sha") or "").startswith(commit) and prov.get("git_dirty") is False:
        print(p)
PY
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
    missing=$(for f in $(design_runs); do [ -f "$build/$f" ] || echo "$f"; done)
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
    echo "collected into $here; commit with: git add results benchmarks/snakemake && git commit"
    ;;
status)
    total=$(design_runs | wc -l)
    n_here=$(cd "$here" && from_build_commit $(find results -name 'seed~*.json') | wc -l)
    n_build=$(cd "$build" 2>/dev/null && from_build_commit $(find results -name 'seed~*.json') | wc -l || echo 0)
    echo "runs of the design: $total; made at $BUILD_COMMIT: $n_here in this checkout, $n_build in $build"
    if build_running; then echo "the build is running (log: $build/build.log)"; else echo "no build is running"; fi
    ;;
*) echo "usage: tools/rebuild.sh start|collect|status" >&2; exit 2 ;;
esac
