"""The improvement tool's files (pipeline/stages/improvement_tool.py): the page and its reference values."""

from __future__ import annotations

from pipeline.study.outputs.model import Output

IMPROVEMENT_TOOL = (
    Output(
        "improvement_tool",
        "analysis",
        "improvement_tool.html",
        "improvement",
        "pipeline.stages.improvement_tool:render_page",
        "The LSP improvement tool: one self-contained page (no network request; nothing loaded is sent or "
        "stored) that places a partnership's 7S answers on England's distribution and its comparison "
        "group's.",
        inputs=("analysis_base", "frame"),
    ),
    Output(
        "improvement_reference",
        "analysis",
        "improvement_tool.json",
        "improvement",
        "pipeline.stages.improvement_tool:reference_values",
        "The improvement tool's national reference values (disclosure-safe): each 7S item's weighted % "
        "agreeing by comparison group, each scale's design-based percentiles, the within-LSP spread.",
        inputs=("analysis_base", "frame"),
    ),
)
