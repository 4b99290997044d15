#!/usr/bin/env bash
# Install everything (Python packages, and the browser the widget tests drive), then run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "wqy"; then
  if [ "$(id -u)" = "0" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
  else
    echo "chromium / fonts-wqy-zenhei missing and not root: browser tests will be skipped" >&2
  fi
fi
exec .venv/bin/python -m pytest -ra "$@"
