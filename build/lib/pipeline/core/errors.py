"""The one exception a stage raises for bad input: its message is all the user sees."""


class PipelineError(Exception):
    """A problem with the input or the configuration, explained in one line for the person running make."""
