#!/usr/bin/env bash
# Keep a bench's finished jobs in git, so that a run cut short with its machine (sessions
# here do not keep runs/) resumes on the next one: a job whose eval.json is back in place,
# with the same demo subset, config and starting weights, is skipped by `ate bench` (demos,
# pre-training and VAEs are rebuilt from their seeds; a job whose subset or weights came out
# otherwise on this machine is set aside and trained again: docs/bench.md).
#   bash docs/results/job_records.sh save runs/bench-eef      # -> docs/results/jobs/bench-eef
#   bash docs/results/job_records.sh restore runs/bench-eef   # <- never over an existing one
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?save or restore}
bench=${2:?a bench --out folder under runs/, e.g. runs/bench-eef}
name=$(basename "$bench")
kept=docs/results/jobs
case $mode in
  save)
    [ -d "$bench" ] || { echo "job_records: no bench folder $bench" >&2; exit 1; }
    mkdir -p "$kept"
    # a record without the fingerprint of its starting weights (`inputs`, written since
    # 2026-12-01) would be taken on any machine: run the bench once with this checkout first
    (cd "$(dirname "$bench")" && find "$name" -path '*/runs/*' -not -path '*.stale-*' \
      -name eval.json -exec grep -l '"inputs": ' {} + | xargs -r cp --parents -t "$OLDPWD/$kept/")
    unstamped=$(find "$bench" -path '*/runs/*' -not -path '*.stale-*' -name eval.json \
      -exec grep -L '"inputs": ' {} + | wc -l)
    [ "$unstamped" = 0 ] || echo "job_records: $unstamped jobs without inputs not kept" >&2
    echo "job_records: $(find "$kept/$name" -name eval.json 2>/dev/null | wc -l) jobs kept in $kept/$name"
    ;;
  restore)
    [ -d "$kept/$name" ] || { echo "job_records: nothing kept for $name"; exit 0; }
    mkdir -p "$(dirname "$bench")"
    (cd "$kept" && find "$name" -name eval.json -exec cp -n --parents {} "$OLDPWD/$(dirname "$bench")/" \;)
    echo "job_records: $(find "$kept/$name" -name eval.json | wc -l) kept jobs of $name in place"
    ;;
  *) echo "job_records: mode is save or restore, not $mode" >&2; exit 1 ;;
esac
