"""The configured weighting as a record: which weighting is primary, the margins, bounds and trimming.

Kept apart from pipeline/study/weighting.py so that the config loader, which every stage runs, builds it
without importing the calibration code.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.config_reads import RecordsReads

METHODS = ("type_only", "raking", "linear", "logit")
CALFUN = {"raking": "raking", "linear": "linear", "logit": "logit"}
METHOD_LABELS = {
    "type_only": "post-stratified by authority type only (design weights N_h/n_h)",
    "raking": "raked to the frame margins (multiplicative calibration)",
    "linear": "linear calibration (GREG) to the frame margins",
    "logit": "bounded (logit) calibration to the frame margins",
    "unweighted": "unweighted (raw shares of respondents)",
}


# Thirteen times the 2008 frame: the bundled survey and surveys up to ten times its size are checked whole.
REPLICATE_CHECK_MAX_LSPS = 5_000


@dataclass(frozen=True)
class WeightingSpec(RecordsReads):
    """The configured weighting (config.yaml ``weighting:``), validated by pipeline.core.config.

    Attributes
    ----------
    primary : str
        The weighting of every weighted estimate: one of `METHODS`.
    alternatives : tuple of str
        The other weightings of the sensitivity table (unweighted is always added).
    margins : tuple of tuple of str
        The calibration margins; a margin of two columns is their joint table.
    bounds : tuple of float or None
        Bounds on the g-weights (required for ``logit``; optional for the others).
    trim : tuple of float or None
        Trimming of the g-weights after calibration (R's ``trim=``).
    min_cell_respondents : int
        Joint cells with fewer responding LSPs are merged with a neighbour.
    bootstrap_replicates : int
        Replicates of the bootstrap SE check.
    replicate_check_max_lsps : int
        Above this many LSPs in the frame, the replicate SE check (JKn and bootstrap, each replicate
        recalibrated) runs on a survey of the same design over a seeded simple random subsample of this
        many frame LSPs and their respondents: its memory grows with the subsample, not with rows x
        replicates, and the check is of the method, which a survey of this size tests as well.
    variance_df_adjustment : bool or "leverage"
        Whether calibrated variances carry the degrees-of-freedom factor ``(m - H) / (m - r)``, or
        (``"leverage"``) the same correction unit by unit from each LSP's leverage in the calibration
        regression (`pipeline.survey.calibration.calibrate`, ``df_adjust``); ``False`` gives R's
        ``calibrate()``.
    unit_fpc : bool
        Whether each calibrated LSP carries its own finite population correction ``1 - 1/w`` instead of
        its authority type's (``unit_fpc``); ``False`` gives R's ``calibrate()``.
    interval_df : str
        The degrees of freedom of the weighted estimates' intervals and t tests: ``"design"`` (R's:
        the design's PSUs minus strata, the normal quantile for differences) or ``"bell_mccaffrey"``
        (each estimate's own, `pipeline.survey.small_sample`).
    seed : int
        Seed of the bootstrap.
    """

    primary: str = "raking"
    alternatives: tuple[str, ...] = ("type_only", "linear")
    margins: tuple[tuple[str, ...], ...] = (("authority_type", "imd_band"), ("region",), ("laa_round",))
    bounds: tuple[float, float] | None = None
    trim: tuple[float, float] | None = None
    min_cell_respondents: int = 5
    bootstrap_replicates: int = 500
    replicate_check_max_lsps: int = REPLICATE_CHECK_MAX_LSPS
    variance_df_adjustment: bool | str = True
    unit_fpc: bool = True
    interval_df: str = "design"
    seed: int = 20080402

    @property
    def methods(self) -> tuple[str, ...]:
        """The primary weighting first, then the alternatives."""
        return (self.primary, *(m for m in self.alternatives if m != self.primary))

    def describe(self, method: str | None = None) -> str:
        """One sentence naming a weighting and its margins, for captions and the report."""
        method = method or self.primary
        if method in ("type_only", "unweighted"):
            return METHOD_LABELS[method]
        margins = ", ".join(" x ".join(m) for m in self.margins)
        extra = ""
        if self.bounds:
            extra += f", g-weights bounded to [{self.bounds[0]:g}, {self.bounds[1]:g}]"
        if self.trim:
            extra += f", g-weights trimmed to [{self.trim[0]:g}, {self.trim[1]:g}]"
        return f"{METHOD_LABELS[method]} ({margins}{extra})"


# The config.yaml key behind each field: what reading it records (pipeline.core.config_reads).
WeightingSpec._config_keys = {
    **{name: (f"weighting.{name}",) for name in WeightingSpec.__dataclass_fields__ if name != "seed"},
    "seed": ("seeds.weighting_bootstrap",),
}
