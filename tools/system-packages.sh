#!/usr/bin/env bash
# The system software the paper needs: TeX Live with latexmk (the PDF) and poppler (figure checks).
# Installs it with apt-get where this is a Debian/Ubuntu machine and we may (root, or sudo without a
# password); otherwise names the packages to install and exits 1. Fast when everything is present.
set -euo pipefail
PACKAGES=(latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra
          texlive-fonts-recommended lmodern poppler-utils)
present() {
    command -v latexmk >/dev/null && command -v pdflatex >/dev/null && command -v pdftoppm >/dev/null \
        && kpsewhich booktabs.sty >/dev/null 2>&1 && kpsewhich lmodern.sty >/dev/null 2>&1
}
present && exit 0
if command -v apt-get >/dev/null; then
    if [ "$(id -u)" = 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else sudo=(none); fi
    if [ "${sudo[0]:-}" != none ]; then
        echo "== installing TeX Live, latexmk and poppler (apt-get)"
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
            "${PACKAGES[@]}" >/dev/null
        present && exit 0
    fi
fi
echo "The paper needs TeX Live with latexmk and poppler, which are not installed here and cannot be" >&2
echo "installed automatically. Fix: install them, e.g. on Debian/Ubuntu:" >&2
echo "  sudo apt-get install ${PACKAGES[*]}" >&2
echo "(macOS: MacTeX and poppler from Homebrew), then run the command again." >&2
exit 1
