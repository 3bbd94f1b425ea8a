"""``python -m pipeline.stages.report``: the report stage on its own."""

from pipeline.core.io import run_stage
from pipeline.stages.report import main

run_stage("report", main)
