#!/usr/bin/env bash
# Rebuild the shipped default model (docs/MODEL_CARD.md), then ship it as package data.
#
#   bash scripts/train_default_model.sh [DATA_DIR [PHOTO_DIR]]
#   START_STEP=2 bash scripts/train_default_model.sh    # step 2 only, on the packaged fer-vgg backbone
#
# DATA_DIR (default ../shared/data): RAVDESS voices of 22 actors, RAVDESS Actor 05 (face and
# voice; held out whole, for testing) and the London face set.
# PHOTO_DIR (default ~/.cache/emoannotate-data): users' own copies of two public face corpora,
# never shipped or committed:
#   fer2013/   a clone of github.com/RecepTahirGunlu/Duygu-Tanima ({train,validation,test}/<emotion>/)
#   muxspace/  a clone of github.com/muxspace/facial_expressions (data/legend.csv, images/)
# Step 1 trains the face backbone (fer-vgg, `emoannotate train-backbone`) on FER2013's Training part
# (28,705 photos; PublicTest is scored per epoch, never used to choose; PrivateTest once at the end).
# Step 2 trains the rest of the model on it, frozen, with the backbone's own 7-class head added to the
# logits (--face-prior: the rest learns a correction to it). The backbone has memorised FER2013
# Training, so step 2 does not use that part: PublicTest trains and validates, PrivateTest tests.
#
# Who is held out (never trained on, never used to choose an epoch or a temperature):
#   RAVDESS actors 04, 05, 10, 16, 20, 21 (05: face and voice); FER2013 PrivateTest; 25% of the
#   London people and 25% of the muxspace people (seeded). Validation: actors 13 and 15, 15% of the
#   rest of each corpus. Neutral is calm everywhere.
#
# On 2 cores: the backbone ~45 min; photo features ~20 min the first time (cached); training ~10 min.
# Deterministic: the same data gives the same weights, bit for bit, on the same kind of CPU (2 threads);
# another CPU (other oneDNN/MKL kernels) gives a different model (docs/MODEL_CARD.md, Protocol).
set -euo pipefail
. "$(dirname "$0")/default_recipe.sh"
data=${1:-../shared/data}
photos=${2:-${EMOANNOTATE_PHOTOS:-$HOME/.cache/emoannotate-data}}
for need in "$data/ravdess-audio" "$data/ravdess/windows" "$data/london-faces" "$photos/fer2013/train" \
            "$photos/fer2013/validation" \
            "$photos/fer2013/test" "$photos/muxspace/data/legend.csv"; do
  [ -e "$need" ] || { echo "missing $need (see the top of $0)" >&2; exit 2; }
done
out=runs/default
mkdir -p "$out"
if [ "${START_STEP:-1}" -ge 2 ]; then
  cp emoannotate/weights/fer_vgg.safetensors "$out/fer_vgg.safetensors"  # step 1's result, as shipped
else
emoannotate train-backbone -d "fer2013:$photos/fer2013/train" --val "fer2013:$photos/fer2013/validation" \
  --test "fer2013:$photos/fer2013/test" --epochs 25 --seed 0 --threads 2 -o "$out/fer_vgg.safetensors" --overwrite
fi
train_step2 "$data" "$photos" "$out/fer_vgg.safetensors" "$out"
cp "$out/fer_vgg.safetensors" emoannotate/weights/fer_vgg.safetensors  # what --backbone fer-vgg loads
python scripts/release_model.py "$out/model.safetensors" --name default \
  --description "Face backbone trained by the project on FER2013 (fer-vgg, frozen, its own head as a prior); faces of many people (FER2013 PublicTest, London set, muxspace news photos), voices of 16 RAVDESS actors with degraded copies; neutral as calm; calibrated per path on held-out people"
