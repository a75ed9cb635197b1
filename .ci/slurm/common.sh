# Shared by start.sh and stop.sh: where the one-node CI cluster keeps its state, and small helpers.
# Sourced, not run.
# shellcheck shell=bash
SLURM_CI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=cluster.env
. "$SLURM_CI_DIR/cluster.env"

# Everything the daemons write (state, spool, logs, pid files, the database) lives here.
RUN="${LASH_SLURM_DIR:-/var/tmp/lash-slurm}"
ETC=/etc/slurm                   # where every SLURM command looks for slurm.conf by default
MARKER="# written by lash .ci/slurm/start.sh"  # first line of our configs: never touch another's
MUNGE_SOCKET_DIR=/run/munge      # SLURM's and munge's default socket directory
PIDS="$RUN/pid"
LOGS="$RUN/log"
DB="$RUN/mariadb"                # owned by mysql: the data directory, socket, pid and log
NODE="$(hostname -s)"

# The commands start.sh runs (install.sh installs them from Debian's packages).
REQUIRED_COMMANDS=(munged munge unmunge mariadbd mariadb-install-db mariadb mariadb-admin slurmdbd
                   slurmctld slurmd sinfo squeue scancel scontrol sacct sacctmgr sbatch)

# Daemons in start order; stop.sh goes backwards.
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)

pid_file() {
    case "$1" in
        munged) echo "$RUN/munge/munged.pid" ;;
        mariadbd) echo "$DB/mariadbd.pid" ;;
        *) echo "$PIDS/$1.pid" ;;
    esac
}

log_file() {
    case "$1" in
        munged) echo "$RUN/munge/munged.log" ;;
        mariadbd) echo "$DB/mariadbd.log" ;;
        *) echo "$LOGS/$1.log" ;;
    esac
}

# True when the daemon's pid file names a live process.
running() {
    local file pid
    file="$(pid_file "$1")"
    [[ -s "$file" ]] || return 1
    pid="$(tr -dc 0-9 <"$file")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

say() { echo "[slurm-ci] $*"; }

# Fail with the reason and the end of the daemon's log (the reason is printed, never swallowed).
die() {
    local daemon="${2:-}"
    echo "[slurm-ci] ERROR: $1" >&2
    if [[ -n "$daemon" && -s "$(log_file "$daemon")" ]]; then
        echo "[slurm-ci] last lines of $(log_file "$daemon"):" >&2
        tail -n 15 "$(log_file "$daemon")" >&2
    fi
    exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds.
wait_for() {
    local seconds="$1" what="$2" deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
    say "$what"
}
