"""The registry of every output: each table and figure declared once, with its stage, maker and columns.

From this one declaration come the report's output index, ``make verify``'s choice of recomputation
(``Figure.verify_kind``), the pandera schema every analysis table is checked against when it is written
(``table_schema``), the generated data dictionary ``docs/outputs.md`` (``python -m pipeline outputs``), and
the tests that hold the Makefile's target lists and a real ``make all`` to exactly this set.

One module per concern: the records (``model``), the column groups outputs share (``columns``), each
stage's tables (``data``, ``analysis``, ``models``, ``nonresponse``), the figures with their descriptions
(``figures``), the publication's files (``publication``), the improvement tool's (``improvement``), the
whole list (``registry``) and the generated dictionary (``dictionary``).

A leaf of the study layer: it imports no plotting library and no statistics, so listing outputs is cheap.
"""

from pipeline.study.outputs.analysis import ANALYSIS_MANIFEST, analysis_tables
from pipeline.study.outputs.data import analysis_base_columns, data_tables
from pipeline.study.outputs.dictionary import data_dictionary, main
from pipeline.study.outputs.figures import figures
from pipeline.study.outputs.improvement import IMPROVEMENT_TOOL
from pipeline.study.outputs.model import (
    BASE,
    COLUMN_KINDS,
    COMPARISONS,
    ESTIMATES,
    FIGURE_INPUT_OUTPUTS,
    FIGURE_SUFFIXES,
    FRAME,
    LIKERT_GROUPS,
    LOCATIONS,
    PUBLISHED,
    VERIFY_KINDS,
    Column,
    Figure,
    Output,
    relative_path,
)
from pipeline.study.outputs.models import model_tables
from pipeline.study.outputs.nonresponse import nonresponse_tables
from pipeline.study.outputs.publication import (
    DATA_DICTIONARY,
    REPORT,
    REPORT_TABLES,
    SPREADSHEETS,
    TECHNICAL_ANNEX,
    WORKBOOK_TABLES,
)
from pipeline.study.outputs.registry import all_outputs, tables

__all__ = [
    "ANALYSIS_MANIFEST",
    "BASE",
    "COLUMN_KINDS",
    "COMPARISONS",
    "DATA_DICTIONARY",
    "ESTIMATES",
    "FIGURE_INPUT_OUTPUTS",
    "FIGURE_SUFFIXES",
    "FRAME",
    "IMPROVEMENT_TOOL",
    "LIKERT_GROUPS",
    "LOCATIONS",
    "PUBLISHED",
    "REPORT",
    "REPORT_TABLES",
    "SPREADSHEETS",
    "TECHNICAL_ANNEX",
    "VERIFY_KINDS",
    "WORKBOOK_TABLES",
    "Column",
    "Figure",
    "Output",
    "all_outputs",
    "analysis_base_columns",
    "analysis_tables",
    "data_dictionary",
    "data_tables",
    "figures",
    "main",
    "model_tables",
    "nonresponse_tables",
    "relative_path",
    "tables",
]
