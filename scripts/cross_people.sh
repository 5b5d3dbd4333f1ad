#!/usr/bin/env bash
# Cross-validation of the default model's step 2 (default_recipe.sh) by people: leave-one-group-out.
#
#   bash scripts/cross_people.sh [N [DATA_DIR [PHOTO_DIR]]]      # N folds, default 4
#
# Fold K of N (`train --fold K N`): the people of each corpus (RAVDESS's 22 actors, Actor 05's face and
# voice among them; the London set's 102; muxspace's 5,605) are dealt into N groups (seeded, balanced by
# samples) and group K is held out of training and of every choice (epoch, temperatures: validation
# people come from the other groups, 15% of each corpus). FER2013 has no person ids: its PrivateTest
# stays the test in every fold, as in the shipped recipe (its line is the mean of the N models). Over the N folds
# every person is tested exactly once; scripts/cross_people_summary.py pools their figures.
# The backbone is the shipped fer-vgg. About 7.5 min a fold on 2 cores once the features are cached.
# Writes runs/folds/N-K/{model.safetensors,report/}; a fold with a report is not trained again.
set -euo pipefail
. "$(dirname "$0")/default_recipe.sh"
n=${1:-4}
data=${2:-../shared/data}
photos=${3:-${EMOANNOTATE_PHOTOS:-$HOME/.cache/emoannotate-data}}
step2_args "$data" "$photos" emoannotate/weights/fer_vgg.safetensors
for k in $(seq 1 "$n"); do
  out=runs/folds/$n-$k
  if [ -e "$out/report/report.json" ]; then echo "fold $k of $n: done before ($out)"; continue; fi
  mkdir -p "$out"
  emoannotate train "${STEP2_ARGS[@]}" --fold "$k" "$n" --test-speakers 'fer2013:PrivateTest-*' \
    --val-fraction 0.15 -o "$out/model.safetensors" --report-dir "$out/report" --overwrite
done
python "$(dirname "$0")/cross_people_summary.py" runs/folds/$n-*
