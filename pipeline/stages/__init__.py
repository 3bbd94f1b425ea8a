"""The pipeline's stages, each a pure function over data frames plus a thin command-line entry.

They run in this order (the figure stage lives in ``pipeline.figures``); each reads the files the previous
ones wrote, so make can rebuild only what changed:

    ingest -> validate -> derive -> analyse -> nonresponse -> models -> measurement -> improvement -> figures
    -> report -> spreadsheets
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
    "figures",
    "report",
    "spreadsheets",
)
