#!/usr/bin/env bash
# Re-run every evaluation behind README.md's results table, refresh evaluation/results/*.json,
# then regenerate the table (`notesqa eval readme`). Run folders go to runs/evaluate-<time>/.
#
#   scripts/evaluate.sh                  everything (CMRC in full: ~20-30 min on 2 cores)
#   CMRC_LIMIT=500 scripts/evaluate.sh   only the first 500 CMRC questions (a fixed subset; the table says so)
#   SKIP_CMRC=1 scripts/evaluate.sh      sample corpus only; the CMRC and combined result files are kept
#   SKIP_BACKENDS=1 scripts/evaluate.sh  without the embedded-vs-Milvus runs (their result files are kept)
#   SKIP_BUILD=1 scripts/evaluate.sh     use the index folders as they are (default: rebuild them, which is
#                                        incremental - unchanged paragraphs come from the embedding cache)
#   CMRC_DIR=/path/to/cmrc2018           folder holding corpus.jsonl and qa.jsonl
#                                        (default: ../shared/datasets/cmrc2018, then /work/shared/...)
# Index caches live in var/: var/index (sample), var/cmrc-index, var/combined-index, var/eval-cache.
set -euo pipefail
cd "$(dirname "$0")/.."

NOTESQA=${NOTESQA:-.venv/bin/notesqa}
RESULTS=evaluation/results
RUNS=${RUNS_DIR:-runs/evaluate-$(date +%Y%m%dT%H%M%S)}
DEV=evaluation/datasets/sample_dev.jsonl
ROBUSTNESS=evaluation/datasets/sample_dev_robustness.jsonl
HOLDOUT=evaluation/datasets/sample_dev_holdout.jsonl

if [ ! -x "$NOTESQA" ]; then
  echo "error: $NOTESQA not found; run scripts/setup.sh first (or set NOTESQA=...)" >&2
  exit 1
fi
if [ -z "${CMRC_DIR:-}" ]; then
  for candidate in ../shared/datasets/cmrc2018 /work/shared/datasets/cmrc2018; do
    if [ -f "$candidate/qa.jsonl" ] && [ -f "$candidate/corpus.jsonl" ]; then CMRC_DIR=$candidate; break; fi
  done
fi
run_cmrc=1
if [ -n "${SKIP_CMRC:-}" ]; then
  run_cmrc=0
elif [ -z "${CMRC_DIR:-}" ] || [ ! -f "$CMRC_DIR/qa.jsonl" ]; then
  echo "warning: CMRC 2018 not found (set CMRC_DIR); its result files are left as they are" >&2
  run_cmrc=0
fi
limit_args=()
if [ -n "${CMRC_LIMIT:-}" ]; then limit_args=(--limit "$CMRC_LIMIT"); fi

mkdir -p "$RESULTS" "$RUNS"
step() { printf '\n== %s\n' "$*" >&2; }

if [ -z "${SKIP_BUILD:-}" ]; then
  step "index: sample corpus -> var/index"
  "$NOTESQA" index build --corpus corpus --index var/index
  if [ "$run_cmrc" = 1 ]; then
    step "index: CMRC 2018 passages -> var/cmrc-index"
    "$NOTESQA" index build --corpus "$CMRC_DIR/corpus.jsonl" --index var/cmrc-index
  fi
fi

step "NotesQA on the sample dev, robustness and holdout sets (and each with its evidence withheld)"
"$NOTESQA" eval run "$DEV" "$ROBUSTNESS" "$HOLDOUT" --index var/index --corpus corpus --withhold-evidence \
  --out-dir "$RUNS/sample_dev" --save-results "$RESULTS/sample_dev.json"

step "conversations: follow-ups against the same questions asked in full"
"$NOTESQA" eval run evaluation/datasets/sample_conversations.jsonl --index var/index \
  --out-dir "$RUNS/sample_conversations" --save-results "$RESULTS/sample_conversations.json"

step "side by side on the sample corpus: NotesQA, keyword, dense, LangChain"
"$NOTESQA" eval baselines "$DEV" --index var/index --corpus corpus \
  --out-dir "$RUNS/baselines_sample" --save-results "$RESULTS/baselines_sample.json"

if [ "$run_cmrc" = 1 ]; then
  step "side by side on CMRC 2018 dev ${CMRC_LIMIT:+(first $CMRC_LIMIT questions)}, then NotesQA with the evidence withheld"
  "$NOTESQA" eval baselines "$CMRC_DIR/qa.jsonl" --index var/cmrc-index --corpus "$CMRC_DIR/corpus.jsonl" \
    --withhold-evidence "${limit_args[@]}" --out-dir "$RUNS/baselines_cmrc" --save-results "$RESULTS/baselines_cmrc.json"

  step "CMRC 2018 dev ${CMRC_LIMIT:+(first $CMRC_LIMIT questions)}, each question scoped to its own passage"
  "$NOTESQA" eval run "$CMRC_DIR/qa.jsonl" --index var/cmrc-index --scoped "${limit_args[@]}" \
    --out-dir "$RUNS/scoped_cmrc" --save-results "$RESULTS/scoped_cmrc.json"

  step "combined index (sample corpus + CMRC passages), sample dev set"
  "$NOTESQA" eval run "$DEV" --corpus corpus --corpus "$CMRC_DIR/corpus.jsonl" --index var/combined-index \
    --seed-index var/index --seed-index var/cmrc-index \
    --out-dir "$RUNS/combined" --save-results "$RESULTS/combined.json"
fi

if [ -z "${SKIP_BACKENDS:-}" ]; then
  step "index backends side by side: embedded and Milvus (a Milvus Lite server on loopback), sample dev set"
  "$NOTESQA" eval backends "$DEV" --corpus corpus --backend embedded --milvus-lite --seed-index var/index \
    --workdir "$RUNS/backends_sample" --save-results "$RESULTS/backends_sample.json"
  if [ "$run_cmrc" = 1 ]; then
    step "index backends side by side on CMRC 2018 dev ${CMRC_LIMIT:+(first $CMRC_LIMIT questions)}"
    "$NOTESQA" eval backends "$CMRC_DIR/qa.jsonl" --corpus "$CMRC_DIR/corpus.jsonl" --backend embedded --milvus-lite \
      --seed-index var/cmrc-index "${limit_args[@]}" --workdir "$RUNS/backends_cmrc" \
      --save-results "$RESULTS/backends_cmrc.json"
  fi
fi

step "README table"
if [ -f README.md ] && grep -q "<!-- eval-table:start -->" README.md; then
  "$NOTESQA" eval readme
else
  echo "README.md has no <!-- eval-table:start --> / <!-- eval-table:end --> markers yet:" \
       "add them where the table goes, then run: $NOTESQA eval readme" >&2
fi
echo "Run folders: $RUNS" >&2
