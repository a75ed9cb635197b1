#!/usr/bin/env bash
# Installs what the one-node CI cluster needs from Debian's packages: SLURM's controller, node
# daemon, clients and slurmdbd, munge, and MariaDB (slurmdbd's database; the executor plugin reads
# job states with sacct). Quick when everything is there. Exits 1 with the reason when it cannot
# install (no root, no apt-get, no network).
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)

versions() {  # without a slurm.conf, `sinfo --version` fails; the daemons' -V does not
    echo "$(slurmctld -V), $(munged --version | cut -d' ' -f1), MariaDB $(mariadbd --version | awk '{print $3}')"
}

missing=()
for cmd in "${REQUIRED_COMMANDS[@]}"; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
done
if ((${#missing[@]} == 0)); then
    say "installed: $(versions)"
    exit 0
fi
say "missing: ${missing[*]}; installing ${PACKAGES[*]}"
[[ $EUID -eq 0 ]] || die "installing needs root. Fix: as root, apt-get install ${PACKAGES[*]}"
command -v apt-get >/dev/null ||
    die "no apt-get (not Debian or Ubuntu). Fix: install SLURM (slurmctld, slurmd, slurmdbd), munge and MariaDB with this system's package manager"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null ||
    die "apt-get update failed (no network or no package mirror?)"
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null ||
    die "apt-get install ${PACKAGES[*]} failed"
for cmd in "${REQUIRED_COMMANDS[@]}"; do
    command -v "$cmd" >/dev/null || die "$cmd is still missing after installing ${PACKAGES[*]}"
done
say "installed: $(versions)"
