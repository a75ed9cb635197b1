#!/usr/bin/env bash
# Stops the one-node CI cluster that start.sh started: cancels its jobs, then slurmd, slurmctld,
# slurmdbd, mariadbd and munged, each only if start.sh started it (its pid file under
# LASH_SLURM_DIR), and removes the configuration start.sh wrote to /etc/slurm (with it, every SLURM
# command would wait ~10 s for a controller that is gone). Idempotent: nothing running is no error.
# The accounting database and the controller's state stay for the next start.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

[[ $EUID -eq 0 ]] || die "stop.sh needs root: the daemons run as root, munge and mysql"

if running slurmctld; then
    jobs="$(squeue -h -o %i 2>/dev/null || true)"
    if [[ -n "$jobs" ]]; then
        say "cancelling jobs: $(echo "$jobs" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        scancel $jobs || true
        wait_for 30 "jobs cancelled" sh -c '[ -z "$(squeue -h -o %i)" ]' || say "jobs still listed"
    fi
fi

# stop_daemon NAME: TERM, up to 30 s to exit, then KILL.
stop_daemon() {
    local pid
    if ! running "$1"; then
        say "$1 not running"
        return
    fi
    pid="$(tr -dc 0-9 <"$(pid_file "$1")")"
    kill -TERM "$pid"
    if ! wait_for 30 "$1 stopped" sh -c "! kill -0 $pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        say "$1 killed (did not stop within 30 s)"
    fi
    rm -f "$(pid_file "$1")"
}

for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    stop_daemon "${DAEMONS[i]}"
done

for conf in slurm.conf slurmdbd.conf; do
    if [[ -e "$ETC/$conf" ]] && head -n 1 "$ETC/$conf" | grep -qF "$MARKER"; then
        rm -f "$ETC/$conf"
        say "removed $ETC/$conf"
    fi
done
