#!/usr/bin/env bash
# Across corpora: the default model's step 2 (default_recipe.sh) trained without one face corpus,
# every person of it held out, and tested on it. A figure on a corpus the model never saw any of.
#
#   bash scripts/cross_corpus.sh CORPUS [DATA_DIR [PHOTO_DIR]]     # CORPUS: london-faces, muxspace or fer2013
#
# The backbone is the shipped fer-vgg (trained on FER2013 Training: for fer2013 this leaves out the rest
# of the model's FER2013 photos, not the backbone's). Writes runs/cross/CORPUS/{model.safetensors,report/};
# the figures to read are CORPUS's section of report/report.txt. The other corpora keep their own
# held-out people, so their sections are comparable to the default model's, less this corpus.
set -euo pipefail
. "$(dirname "$0")/default_recipe.sh"
corpus=${1:?"name the corpus to leave out: london-faces, muxspace or fer2013"}
data=${2:-../shared/data}
photos=${3:-${EMOANNOTATE_PHOTOS:-$HOME/.cache/emoannotate-data}}
case "$corpus" in london-faces|muxspace|fer2013) ;; *) echo "unknown face corpus $corpus" >&2; exit 2;; esac
out=runs/cross/$corpus
mkdir -p "$out"
train_step2 "$data" "$photos" emoannotate/weights/fer_vgg.safetensors "$out" "$corpus:*"
sed -n "/^== $corpus ==/,/^$/p" "$out/report/report.txt"
