"""Design-based survey estimation matched to R's ``survey`` package (4.1-1).

Pure functions over numpy arrays and pandas frames; the method is specified in
``docs/survey_engine.md``. Typical use::

    design = SurveyDesign(strata="authority_type", fpc="N_h").prepare(coordinators)
    svymean(design, "item_bin", domain=coordinators["tier"] == "single_tier")
"""

from pipeline.survey.chisq import RaoScottTest, svychisq
from pipeline.survey.design import (
    LONELY_PSU_RULES,
    PreparedDesign,
    SurveyDesign,
    SurveyDesignError,
)
from pipeline.survey.estimators import (
    DomainDifference,
    DomainMeans,
    MeanEstimate,
    ProportionCI,
    TotalEstimate,
    domain_difference,
    svyby_mean,
    svyciprop,
    svymean,
    svytotal,
    t_quantile,
)
from pipeline.survey.multiplicity import p_adjust_bh
from pipeline.survey.olr import OrdinalFit, svyolr
from pipeline.survey.power import minimum_detectable_difference, power_two_proportions

__all__ = [
    "LONELY_PSU_RULES",
    "DomainDifference",
    "DomainMeans",
    "MeanEstimate",
    "OrdinalFit",
    "PreparedDesign",
    "ProportionCI",
    "RaoScottTest",
    "SurveyDesign",
    "SurveyDesignError",
    "TotalEstimate",
    "domain_difference",
    "minimum_detectable_difference",
    "p_adjust_bh",
    "power_two_proportions",
    "svyby_mean",
    "svychisq",
    "svyciprop",
    "svymean",
    "svyolr",
    "svytotal",
    "t_quantile",
]
