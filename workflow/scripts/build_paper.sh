#!/usr/bin/env bash
# Compile the paper in a fresh copy that holds the LaTeX sources, the generated numbers/tables and
# the figures side by side (as showyourwork does), so the smoke build and the paper build never mix.
# Usage: build_paper.sh BUILD_DIR MAIN.tex REFS.bib SECTIONS_DIR GENERATED... -- FIGURES...
set -euo pipefail
build=$1 tex=$2 bib=$3 sections=$4
shift 4
generated=()
while [ "$1" != "--" ]; do generated+=("$1"); shift; done
shift
rm -rf "$build"
mkdir -p "$build/generated" "$build/figures"
cp "$tex" "$bib" "$build/"
cp -r "$sections" "$build/sections"
cp "${generated[@]}" "$build/generated/"
cp "$@" "$build/figures/"
cd "$build"
export SOURCE_DATE_EPOCH=0 FORCE_SOURCE_DATE=1   # a byte-stable PDF
latexmk -pdf -interaction=nonstopmode -halt-on-error -file-line-error main.tex
cp main.pdf ../main.pdf
