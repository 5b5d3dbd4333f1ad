# Step 2 of the default model's recipe: one definition, sourced by train_default_model.sh (which ships
# its result), cross_corpus.sh (which leaves a corpus out and tests on it) and cross_people.sh (which
# rotates who is held out, fold by fold).
#
#   step2_args DATA_DIR PHOTO_DIR BACKBONE      # sets STEP2_ARGS: the data and training, not who is held out
#   train_step2 DATA_DIR PHOTO_DIR BACKBONE OUT_DIR [MORE_TEST_SPEAKERS]
#
# MORE_TEST_SPEAKERS: speakers or patterns added to the held-out ones ("london-faces:*": every London
# person is a test person, so the model never sees that corpus).
step2_args() {
  local data=$1 photos=$2 backbone=$3
  STEP2_ARGS=(
    -d "ravdess:$data/ravdess-audio"
    -d "ravdess-windows:$data/ravdess/windows"
    -d "london-faces:$data/london-faces"
    -d "fer2013:$photos/fer2013/validation"
    -d "fer2013:$photos/fer2013/test"
    -d "muxspace:$photos/muxspace"
    --neutral calm --per-corpus
    --augment-voices 2 --epoch-faces 1500 --class-balance --face-prior --fused-distance inputs
    --backbone fer-vgg --backbone-weights "$backbone" --epochs 40 --seed 0 --device cpu -j 2
  )
}

train_step2() {
  local data=$1 photos=$2 backbone=$3 out=$4 more_test=${5:-}
  step2_args "$data" "$photos" "$backbone"
  emoannotate train "${STEP2_ARGS[@]}" \
    --test-speakers "ravdess:04,ravdess:05,ravdess:10,ravdess:16,ravdess:20,ravdess:21,fer2013:PrivateTest-*${more_test:+,$more_test}" \
    --val-speakers 'ravdess:13,ravdess:15' \
    --test-fraction 0.25 --val-fraction 0.15 \
    -o "$out/model.safetensors" --report-dir "$out/report" --overwrite
}
