#!/usr/bin/env bash
# Create .venv/ at the repository root and install NotesQA with all its extras.
# torch is pinned to the CPU build first so sentence-transformers does not pull a CUDA one.
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$python_bin" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[sentence-transformers,langchain,milvus,test]'
echo "NotesQA installed in .venv (console script: .venv/bin/notesqa)"
