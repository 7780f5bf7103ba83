#!/usr/bin/env bash
# Regenerate the smoke-scale example report: reproduce every preset at --scale smoke into one
# store, then write the report (HTML and Markdown).
#
#   docs/make-example-report.sh [OUT_DIR]      (default: example-report)
#
# OUT_DIR/store holds the runs, OUT_DIR/report.html and OUT_DIR/report.md the report, and
# OUT_DIR/progress.log one line per preset started and finished (a failed preset is logged
# and the others still run). About 1.5-2 CPU-hours on a 2-core CPU;
# rerunning resumes (runs already in the store are not trained again). Copy report.md to
# docs/example-report-smoke.md to publish it. On a machine shared with other jobs, run it with
# OMP_NUM_THREADS=1: contended threads spin, and one thread per process trains faster there.
set -uo pipefail
out="${1:-example-report}"
mkdir -p "$out"
presets=(signal-evolution dimension frozen-embedding circles-vs-p circles-vs-weight-decay
         initial-signal perturbation two-circles initial-gradient ablation collaboration ode)
for name in "${presets[@]}"; do
    echo "$(date -u +%FT%TZ) start $name" >> "$out/progress.log"
    if circle-survival reproduce "$name" "$out/store" --scale smoke --quiet \
            > "$out/$name.log" 2>&1; then
        echo "$(date -u +%FT%TZ) done $name" >> "$out/progress.log"
    else
        echo "$(date -u +%FT%TZ) FAILED $name (see $out/$name.log)" >> "$out/progress.log"
    fi
done
circle-survival report "$out/store" --out "$out" >> "$out/progress.log" 2>&1
echo "$(date -u +%FT%TZ) report written" >> "$out/progress.log"
