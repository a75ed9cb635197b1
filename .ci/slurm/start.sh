#!/usr/bin/env bash
# Starts a one-node SLURM cluster on this host (CI): munged, a MariaDB server of its own on
# 127.0.0.1, slurmdbd, slurmctld and slurmd, from Debian's packages (install.sh). Registers the
# cluster, the CI account and root in the accounting database and waits until the node is idle.
# Idempotent: a daemon that is already running is left as it is; a second start only checks.
# Needs root (it writes /etc/slurm and runs the daemons). stop.sh stops what this started.
#   LASH_SLURM_DIR  state, spool, logs, pid files and the database (default /var/tmp/lash-slurm)
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

[[ $EUID -eq 0 ]] || die "start.sh needs root: it writes $ETC and runs the daemons"
for cmd in "${REQUIRED_COMMANDS[@]}"; do
    command -v "$cmd" >/dev/null || die "$cmd is not installed. Fix: bash .ci/slurm/install.sh"
done
install -d -m 0755 "$RUN" "$PIDS" "$LOGS" "$RUN/state" "$RUN/spool" "$ETC"

# --- configuration -----------------------------------------------------------------------------
PASSWORD_FILE="$RUN/mariadb-password"  # slurmdbd's database password, made once
if [[ ! -s "$PASSWORD_FILE" ]]; then
    (umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$PASSWORD_FILE")
fi
# 90% of the memory the kernel reports: slurmd drains a node that has less than RealMemory.
MEMORY_MB="$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"

# render TEMPLATE DEST MODE: the template with its @NAME@ fields filled, installed atomically;
# CHANGED lists the files whose content changed (a running daemon must reread them).
CHANGED=()
render() {
    local dest="$ETC/$2" tmp
    if [[ -e "$dest" ]] && ! head -n 1 "$dest" | grep -qF "$MARKER"; then
        die "$dest exists and was not written by .ci/slurm/start.sh (this host's own SLURM?). Fix: move it away, or run the test against that cluster by hand"
    fi
    tmp="$(mktemp "$dest.XXXXXX")"
    sed -e "s|@MARKER@|$MARKER|" -e "s|@CLUSTER@|$LASH_SLURM_CLUSTER|" \
        -e "s|@PARTITION@|$LASH_SLURM_PARTITION|" -e "s|@NODE@|$NODE|g" -e "s|@RUN@|$RUN|g" \
        -e "s|@CPUS@|$(nproc)|" -e "s|@MEMORY_MB@|$MEMORY_MB|" \
        -e "s|@CTLD_PORT@|$LASH_SLURM_CTLD_PORT|" -e "s|@SLURMD_PORT@|$LASH_SLURM_SLURMD_PORT|" \
        -e "s|@DBD_PORT@|$LASH_SLURM_DBD_PORT|" -e "s|@MARIADB_PORT@|$LASH_SLURM_MARIADB_PORT|" \
        -e "s|@DB_PASSWORD@|$(cat "$PASSWORD_FILE")|" "$SLURM_CI_DIR/$1" >"$tmp"
    chmod "$3" "$tmp"
    if cmp -s "$tmp" "$dest"; then
        rm -f "$tmp"
    else
        mv "$tmp" "$dest"
        CHANGED+=("$2")
    fi
}
render slurm.conf.in slurm.conf 0644
render slurmdbd.conf.in slurmdbd.conf 0600 # slurmdbd refuses a readable file (the password)

# --- munge: SLURM's authentication ---------------------------------------------------------------
munge_answers() { munge -n </dev/null | unmunge >/dev/null; }
if running munged; then
    say "munged already running"
elif munge_answers 2>/dev/null; then
    say "munged: one not started by this script answers; using it (stop.sh leaves it alone)"
else
    [[ -s /etc/munge/munge.key ]] || runuser -u munge -- mungekey --create ||
        die "no /etc/munge/munge.key and mungekey could not make one"
    install -d -o munge -g munge -m 0755 "$MUNGE_SOCKET_DIR"
    install -d -o munge -g munge -m 0700 "$RUN/munge"
    runuser -u munge -- munged --pid-file="$(pid_file munged)" --log-file="$(log_file munged)" \
        --seed-file="$RUN/munge/munged.seed" || die "munged did not start" munged
    wait_for 30 "munged started" munge_answers || die "munged does not answer" munged
fi

# --- MariaDB: slurmdbd's storage, a server and data directory of its own --------------------------
sql() { mariadb --no-defaults --socket="$DB/mariadbd.sock" -u root -e "$1"; }
if running mariadbd; then
    say "mariadbd already running"
else
    install -d -o mysql -g mysql -m 0750 "$DB"
    if [[ ! -d "$DB/data/mysql" ]]; then
        mariadb-install-db --no-defaults --user=mysql --datadir="$DB/data" --skip-test-db \
            --auth-root-authentication-method=socket >"$DB/install.log" 2>&1 ||
            die "mariadb-install-db failed (log: $DB/install.log)"
    fi
    # setsid: the server outlives this script and the caller's process group
    setsid mariadbd --no-defaults --user=mysql --datadir="$DB/data" --socket="$DB/mariadbd.sock" \
        --pid-file="$(pid_file mariadbd)" --log-error="$(log_file mariadbd)" \
        --bind-address=127.0.0.1 --port="$LASH_SLURM_MARIADB_PORT" --skip-name-resolve \
        --innodb-use-native-aio=0 --innodb-buffer-pool-size=64M </dev/null >/dev/null 2>&1 &
    wait_for 60 "mariadbd started" mariadb-admin --no-defaults --socket="$DB/mariadbd.sock" ping ||
        die "mariadbd did not start" mariadbd
fi
PASSWORD="$(cat "$PASSWORD_FILE")"
sql "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
     ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
     GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" ||
    die "could not create the slurm database user" mariadbd

# --- slurmdbd, then the cluster, the account and the user in its database -------------------------
if running slurmdbd; then
    say "slurmdbd already running"
    [[ " ${CHANGED[*]} " != *" slurmdbd.conf "* ]] ||
        say "WARNING: slurmdbd.conf changed; slurmdbd reads it at start only. Fix: stop.sh, then start.sh"
else
    slurmdbd || die "slurmdbd did not start" slurmdbd
fi
wait_for 60 "slurmdbd answers" sacctmgr -n show cluster || die "slurmdbd does not answer" slurmdbd

# known KIND NAME: true when sacctmgr lists it (sacctmgr add fails on a second run)
known() { sacctmgr -n -P show "$1" "$2" format="$1" 2>/dev/null | grep -qx "$2"; }
known cluster "$LASH_SLURM_CLUSTER" || sacctmgr -i add cluster "$LASH_SLURM_CLUSTER" >/dev/null
known account "$LASH_SLURM_ACCOUNT" ||
    sacctmgr -i add account "$LASH_SLURM_ACCOUNT" Cluster="$LASH_SLURM_CLUSTER" \
        Description="lash CI" Organization=lash >/dev/null
if ! sacctmgr -n -P show assoc where user=root account="$LASH_SLURM_ACCOUNT" format=user | grep -qx root; then
    sacctmgr -i add user root Account="$LASH_SLURM_ACCOUNT" DefaultAccount="$LASH_SLURM_ACCOUNT" >/dev/null
fi
say "accounting: cluster $LASH_SLURM_CLUSTER, account $LASH_SLURM_ACCOUNT, user root"

# --- slurmctld and slurmd ---------------------------------------------------------------------------
if running slurmctld; then
    say "slurmctld already running"
    if [[ " ${CHANGED[*]} " == *" slurm.conf "* ]]; then
        scontrol reconfigure || die "slurm.conf changed and scontrol reconfigure failed" slurmctld
        say "slurm.conf changed: daemons reconfigured"
    fi
else
    slurmctld || die "slurmctld did not start" slurmctld
fi
wait_for 60 "slurmctld answers" sh -c 'scontrol ping | grep -q UP' ||
    die "slurmctld does not answer" slurmctld
if running slurmd; then
    say "slurmd already running"
else
    slurmd || die "slurmd did not start" slurmd
fi

node_state() { sinfo -h -N -n "$NODE" -o %t; }
# A node left down or drained by an earlier run (or a stop mid-job) goes back to service.
wait_for 60 "node $NODE registered" sh -c "sinfo -h -N -n '$NODE' -o %t | grep -qv '^unk'" || true
case "$(node_state)" in
    down* | drain* | drng* | fail*)
        scontrol update nodename="$NODE" state=resume || true ;;
esac
wait_for 60 "node $NODE idle" sh -c "sinfo -h -N -n '$NODE' -o %t | grep -qE '^(idle|mix|alloc)$'" ||
    die "node $NODE is '$(node_state)', not idle: $(sinfo -h -N -n "$NODE" -o '%E')" slurmd
say "up: $(sinfo --version), partition $LASH_SLURM_PARTITION on $NODE ($(nproc) CPUs, RealMemory ${MEMORY_MB} MB)"
