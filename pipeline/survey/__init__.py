"""Design-based survey estimation matched to R's ``survey`` package (4.1-1).

Pure functions over numpy arrays and pandas frames; the method is specified in
``docs/survey_engine.md``. Typical use::

    design = SurveyDesign(strata="authority_type", fpc="N_h").prepare(coordinators)
    svymean(design, "item_bin", domain=coordinators["tier"] == "single_tier")
"""

import importlib
from typing import Any

# Where each public name lives. Submodules are imported on first use (PEP 562), so a stage that needs
# only the design record (e.g. the figures, through pipeline.study.designs) does not pay for scipy.stats.
_HOMES = {
    "CFAFit": "cfa",
    "fit_cfa": "cfa",
    "RaoScottTest": "chisq",
    "svychisq": "chisq",
    "LONELY_PSU_RULES": "design",
    "PreparedDesign": "design",
    "SurveyDesign": "design",
    "SurveyDesignError": "design",
    "DomainDifference": "estimators",
    "DomainMeans": "estimators",
    "MeanEstimate": "estimators",
    "ProportionCI": "estimators",
    "TotalEstimate": "estimators",
    "domain_difference": "estimators",
    "svyby_mean": "estimators",
    "svyciprop": "estimators",
    "svymean": "estimators",
    "svytotal": "estimators",
    "t_quantile": "estimators",
    "GLMFit": "glm",
    "WaldTest": "glm",
    "svyglm": "glm",
    "term_test": "glm",
    "wald_test": "glm",
    "PooledEstimate": "mi",
    "pool_rubin": "mi",
    "p_adjust_bh": "multiplicity",
    "OrdinalFit": "olr",
    "svyolr": "olr",
    "minimum_detectable_difference": "power",
    "power_two_proportions": "power",
    "cronbach_alpha": "reliability",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'pipeline.survey' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pipeline.survey.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "LONELY_PSU_RULES",
    "CFAFit",
    "DomainDifference",
    "DomainMeans",
    "GLMFit",
    "MeanEstimate",
    "OrdinalFit",
    "PooledEstimate",
    "PreparedDesign",
    "ProportionCI",
    "RaoScottTest",
    "SurveyDesign",
    "SurveyDesignError",
    "TotalEstimate",
    "WaldTest",
    "cronbach_alpha",
    "domain_difference",
    "fit_cfa",
    "minimum_detectable_difference",
    "p_adjust_bh",
    "pool_rubin",
    "power_two_proportions",
    "svyby_mean",
    "svychisq",
    "svyciprop",
    "svyglm",
    "svymean",
    "svyolr",
    "svytotal",
    "t_quantile",
    "term_test",
    "wald_test",
]
