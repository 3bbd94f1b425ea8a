"""The pipeline's stages, each a pure function over data frames plus a thin command-line entry.

They run in this order (the figure stage lives in ``pipeline.figures``); each reads the files the previous
ones wrote, so make can rebuild only what changed:

    ingest -> validate -> derive -> analyse -> nonresponse -> models -> measurement -> improvement
    -> report-tables -> figures -> report -> spreadsheets

report-tables (pipeline.stages.report.table_export) computes the tables the report shows from the analysis
tables alone, so the spreadsheets, which read them, need neither the figures nor the pages.
"""

CHAIN = (
    "ingest",
    "validate",
    "derive",
    "analyse",
    "nonresponse",
    "models",
    "measurement",
    "improvement",
    "report-tables",
    "figures",
    "report",
    "spreadsheets",
)
