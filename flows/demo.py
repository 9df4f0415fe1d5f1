"""The main job on the embedded defaults: ``make demo`` / ``python -m flows.demo``.

Runs the ``pipeline`` flow through Prefect's local API on the shipped hand-made sample
(296 products, 40 queries, 394 human labels) with ``configs/sample.yaml`` (the default depths
scaled to a 296-product catalog) and the offline default cascade: it ingests, mines with the
three channels, trains tier 1 and calibrates the cascade (report in HTML, Markdown, JSON),
annotates every candidate, builds the curriculum and exports it, then prints where each
output is. Everything lands in ``dissent-work/``. Each long step shows its progress; Prefect's
and the model libraries' INFO output stays off the console unless ``-v`` is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.progress import progress_display
from flows.common import quiet_local_api
from flows.pipeline import outputs_lines, pipeline

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_MAPPING = ROOT / "sample" / "mapping.yaml"
SAMPLE_CONFIG = ROOT / "configs" / "sample.yaml"


def main() -> None:
    quiet_local_api(verbose="-v" in sys.argv[1:] or "--verbose" in sys.argv[1:])
    with progress_display():
        result = pipeline(str(SAMPLE_CONFIG), str(SAMPLE_MAPPING))
    for line in outputs_lines(result):
        print(line)


if __name__ == "__main__":
    main()
