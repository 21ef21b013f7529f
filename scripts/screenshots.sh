#!/usr/bin/env bash
# Refresh the README's placement screenshots (docs/screenshots/) from the browser tests that
# open each placement in the demo. Needs what `make test` installs (Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/e2e-deps.sh
.venv/bin/pytest -q -p no:cacheprovider tests/e2e/test_board.py tests/e2e/test_record_tab.py \
    tests/e2e/test_placements.py tests/e2e/test_smart_process.py
for name in board crm-tab timeline-menu timeline-menu-complete timeline-menu-reschedule \
    timeline-menu-track list-menu analytics-menu smart-process-tab; do
    cp "artifacts/screenshots/${name}.png" docs/screenshots/
done
echo "docs/screenshots/ refreshed"
