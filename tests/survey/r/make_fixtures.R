# Reference values for the survey engine (pipeline/survey), computed with R's survey package.
#
# Rerun from the project root after `tests/survey/make_datasets.py` has (re)written the CSVs:
#
#   apt-get update && apt-get install -y --no-install-recommends \
#       r-base-core r-cran-survey r-cran-mass r-cran-jsonlite
#   Rscript tests/survey/r/make_fixtures.R
#
# It reads tests/survey/fixtures/{coordinators,partners,lonely}.csv and writes
# tests/survey/fixtures/r_reference.json: a flat list of cases, each with a `kind` (the estimator),
# the design key, the arguments and R's results. The pytest suite only reads that JSON; it never
# needs R. Each CSV's md5 is stored so a test can tell when the JSON is stale.
#
# Written against R 4.2.2, survey 4.1-1, MASS 7.3-58 (the Debian bookworm packages).

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
root <- if (length(script)) normalizePath(file.path(dirname(script), "..")) else "tests/survey"
fx <- file.path(root, "fixtures")

d <- read.csv(file.path(fx, "coordinators.csv"), stringsAsFactors = FALSE)
p <- read.csv(file.path(fx, "partners.csv"), stringsAsFactors = FALSE)
l <- read.csv(file.path(fx, "lonely.csv"), stringsAsFactors = FALSE)
p$N_stage2 <- Inf  # the second stage drawn with replacement

options(survey.lonely.psu = "fail")
designs <- suppressWarnings(list(
  coord_strat = svydesign(ids = ~1, strata = ~authority_type, fpc = ~N_h, data = d),
  coord_unw = svydesign(ids = ~1, data = d),
  part_clus = svydesign(ids = ~lsp_id, strata = ~authority_type, fpc = ~N_h, weights = ~w,
                        data = p),
  part_unw = svydesign(ids = ~lsp_id, data = p),
  # The study's partner design: PSUs with replacement (no fpc), weighted, stratified.
  part_wr = svydesign(ids = ~lsp_id, strata = ~authority_type, weights = ~w, data = p),
  # The study's descriptive partner design: LSPs without replacement, partners within them with
  # replacement (estimated under survey.lonely.psu = "adjust": many LSPs have a single partner).
  part_2stage = svydesign(ids = ~lsp_id + respondent_id, strata = ~authority_type,
                          fpc = ~N_h + N_stage2, weights = ~w, data = p)
))
lonely_design <- svydesign(ids = ~psu, strata = ~stratum, fpc = ~N_h, weights = ~w, data = l)

# JSON cannot hold Inf/NaN/NA: encode them as strings the Python loader turns back into floats.
num <- function(x) {
  x <- as.numeric(x)
  out <- as.list(x)
  out[is.nan(x)] <- "NaN"
  out[is.na(x) & !is.nan(x)] <- "NA"
  out[is.infinite(x) & x > 0] <- "Inf"
  out[is.infinite(x) & x < 0] <- "-Inf"
  if (length(out) == 1) out[[1]] else out
}

cases <- list()
add <- function(...) cases[[length(cases) + 1]] <<- list(...)

dom_design <- function(des, by, level) {
  if (is.null(by)) des else des[des$variables[[by]] %in% level, ]
}

# ---- svymean / svytotal, overall and by domain (svyby), both deff definitions -------------------
mean_cases <- function(key, des, var, by = NULL) {
  f <- as.formula(paste0("~", var))
  yy <- des$variables[[var]]
  if (is.null(by)) {
    m <- svymean(f, des, na.rm = TRUE, deff = TRUE)
    mr <- svymean(f, des, na.rm = TRUE, deff = "replace")
    t <- svytotal(f, des, na.rm = TRUE)
    add(kind = "mean", design = key, var = var, by = NULL, level = NULL,
        estimate = num(coef(m)), se = num(SE(m)), deff = num(deff(m)),
        deff_replace = num(deff(mr)), n = sum(!is.na(yy)))
    add(kind = "total", design = key, var = var, by = NULL, level = NULL,
        estimate = num(coef(t)), se = num(SE(t)))
    return(invisible())
  }
  byf <- as.formula(paste0("~", by))
  b <- svyby(f, byf, des, svymean, na.rm = TRUE, deff = TRUE)
  br <- svyby(f, byf, des, svymean, na.rm = TRUE, deff = "replace")
  bt <- svyby(f, byf, des, svytotal, na.rm = TRUE)
  for (i in seq_len(nrow(b))) {
    lev <- as.character(b[[by]][i])
    add(kind = "mean", design = key, var = var, by = by, level = lev,
        estimate = num(coef(b)[i]), se = num(SE(b)[i]), deff = num(deff(b)[i]),
        # deff.svyby() fails on deff = "replace" in 4.1-1 (`!aa$deffs`): read the column.
        deff_replace = num(br[i, ncol(br)]),
        n = sum(!is.na(yy) & des$variables[[by]] == lev))
    add(kind = "total", design = key, var = var, by = by, level = lev,
        estimate = num(coef(bt)[i]), se = num(SE(bt)[i]))
  }
  # Joint covariance of the domain means. survey 4.1-1's svyby(covmat=TRUE) fails when
  # na.rm=TRUE actually drops rows (influence rows no longer line up with the domain index), so
  # the missing rows are removed with subset() first; subset() keeps the design information.
  sub <- des[!is.na(yy), ]
  bc <- svyby(f, byf, sub, svymean, covmat = TRUE)
  add(kind = "by_cov", design = key, var = var, by = by,
      levels = as.character(bc[[by]]), estimate = num(coef(bc)), cov = num(vcov(bc)))
}

# ---- svyciprop(method = "logit"), overall and per domain -------------------------------------
ciprop_cases <- function(key, des, var, by = NULL, level = 0.95, only = NULL) {
  f <- as.formula(paste0("~", var))
  levs <- if (is.null(by)) list(NULL) else as.list(sort(unique(des$variables[[by]])))
  if (!is.null(only)) levs <- as.list(only)
  for (lev in levs) {
    dd <- dom_design(des, by, lev)
    ci <- svyciprop(f, dd, method = "logit", level = level, na.rm = TRUE)
    add(kind = "ciprop", design = key, var = var, by = by, level = lev, conf_level = level,
        estimate = num(ci), ci_low = num(attr(ci, "ci")[1]), ci_high = num(attr(ci, "ci")[2]),
        se = num(sqrt(attr(ci, "var"))), df = degf(dd))
  }
  if (!is.null(by) && is.null(only)) {
    # The same numbers through svyby(), as an analyst would write it.
    sb <- svyby(f, as.formula(paste0("~", by)), des, svyciprop, method = "logit",
                vartype = "ci", level = level, na.rm = TRUE)
    add(kind = "ciprop_svyby", design = key, var = var, by = by, conf_level = level,
        levels = as.character(sb[[by]]), estimate = num(coef(sb)),
        ci_low = num(sb$ci_l), ci_high = num(sb$ci_u))
  }
}

# ---- svychisq: Rao-Scott second-order F and first-order ("Chisq") p-value --------------------
chisq_cases <- function(key, des, row, col, by = NULL, level = NULL) {
  dd <- dom_design(des, by, level)
  f <- as.formula(paste0("~", row, "+", col))
  fs <- svychisq(f, dd, statistic = "F")
  ch <- svychisq(f, dd, statistic = "Chisq")
  add(kind = "chisq", design = key, row = row, col = col, by = by, level = level,
      f = num(fs$statistic), ndf = num(fs$parameter[["ndf"]]), ddf = num(fs$parameter[["ddf"]]),
      p_f = num(fs$p.value), pearson = num(ch$statistic), df_chisq = num(ch$parameter[["df"]]),
      p_chisq = num(ch$p.value))
}

# ---- difference of two domain means: svyby + svycontrast, and svyttest ----------------------
diff_cases <- function(key, des, var, by, a, b) {
  yy <- des$variables[[var]]
  sub <- des[!is.na(yy) & des$variables[[by]] %in% c(a, b), ]
  f <- as.formula(paste0("~", var))
  bc <- svyby(f, as.formula(paste0("~", by)), sub, svymean, covmat = TRUE)
  w <- setNames(c(1, -1), c(a, b))
  con <- svycontrast(bc, w)
  ci <- confint(con)
  tt <- svyttest(as.formula(paste0(var, "~", by)), sub)
  # svyttest reports (second level - first level); turn it into (a - b).
  s <- if (identical(a, sort(c(a, b))[2])) 1 else -1
  add(kind = "diff", design = key, var = var, by = by, a = a, b = b,
      estimate = num(coef(con)), se = num(SE(con)), ci_low = num(ci[1, 1]),
      ci_high = num(ci[1, 2]), t = num(s * tt$statistic), t_df = num(tt$parameter),
      p_t = num(tt$p.value))
}

# ---- svyolr (proportional odds), R's default optimiser control and a tight one ---------------
olr_cases <- function(key, des, response, predictors) {
  f <- as.formula(paste0("factor(", response, ") ~ ", paste(predictors, collapse = " + ")))
  controls <- list(default = list(), tight = list(reltol = 0, maxit = 1000))
  for (nm in names(controls)) {
    fit <- do.call(svyolr, list(formula = f, design = des, control = controls[[nm]]))
    cf <- coef(fit)
    add(kind = "olr", design = key, response = response, predictors = predictors,
        control = nm, names = names(cf), coef = num(cf), se = num(sqrt(diag(vcov(fit)))),
        deviance = num(fit$deviance), df_residual = num(fit$df.residual),
        convergence = fit$convergence)
  }
}

for (key in names(designs)) {
  des <- designs[[key]]
  options(survey.lonely.psu = if (key == "part_2stage") "adjust" else "fail")
  coord <- startsWith(key, "coord")
  numeric_vars <- if (coord) c("item_bin", "score") else c("item_bin", "item_ord")
  bys <- if (coord) c("tier", "region") else c("tier", "region", "role")
  for (v in numeric_vars) {
    mean_cases(key, des, v)
    for (by in bys) mean_cases(key, des, v, by)
  }
  ciprop_cases(key, des, "item_bin")
  for (by in bys) ciprop_cases(key, des, "item_bin", by)
  ciprop_cases(key, des, "item_bin", "tier", level = 0.9)
  chisq_cases(key, des, "item_ord", "region")
  chisq_cases(key, des, "item_bin", "tier")
  chisq_cases(key, des, "tier", "region")
  chisq_cases(key, des, "item_ord", "region", by = "tier", level = "two_tier")
  if (!coord) {
    chisq_cases(key, des, "role", "item_ord")
    chisq_cases(key, des, "item_bin", "role")
  }
  diff_cases(key, des, "item_bin", "tier", "single_tier", "two_tier")
  diff_cases(key, des, "item_bin", "region", "north", "south")
  if (coord) diff_cases(key, des, "score", "tier", "single_tier", "two_tier")
  if (!coord) diff_cases(key, des, "item_bin", "role", "public", "voluntary")
  olr_cases(key, des, "item_ord", "tier")
  olr_cases(key, des, "item_ord", c("tier", "region"))
  if (!coord) olr_cases(key, des, "item_ord", c("tier", "role"))
}

# ---- lonely PSUs: one single-PSU stratum, a domain with one PSU of a 4-PSU stratum, and
# ---- domains where the proportion is exactly 0 or 1 ------------------------------------------
for (rule in c("adjust", "average", "certainty", "remove")) {
  options(survey.lonely.psu = rule)
  key <- paste0("lonely_", rule)
  mean_cases(key, lonely_design, "y")
  mean_cases(key, lonely_design, "y", "grp")
  mean_cases(key, lonely_design, "x")
  mean_cases(key, lonely_design, "x", "grp")
  ciprop_cases(key, lonely_design, "y")
  ciprop_cases(key, lonely_design, "y", "grp", only = c("g1", "g2"))
  chisq_cases(key, lonely_design, "y", "grp")
}
for (g in c("g3", "g4")) {
  # Proportion exactly 1 / 0: the logit interval does not exist and R returns NaN bounds (its
  # point estimate is glm's non-converged expit(coef), e.g. 5.8e-11 instead of 0).
  ci <- suppressWarnings(svyciprop(~y, lonely_design[l$grp == g, ], method = "logit"))
  add(kind = "ciprop_degenerate", design = "lonely_adjust", var = "y", by = "grp", level = g,
      estimate = num(ci), ci_low = num(attr(ci, "ci")[1]), ci_high = num(attr(ci, "ci")[2]))
}
options(survey.lonely.psu = "fail")
err <- tryCatch(svymean(~y, lonely_design), error = function(e) conditionMessage(e))
add(kind = "lonely_fail", design = "lonely_fail", var = "y", message = err,
    estimate_without_B = num(coef(svymean(~y, lonely_design[l$stratum != "B", ]))),
    se_without_B = num(SE(svymean(~y, lonely_design[l$stratum != "B", ]))))

# ---- Benjamini-Hochberg ------------------------------------------------------------------------
pv <- c(0.01, 0.04, 0.03, 0.04, 0.2, NA, 0.0001, 0.5, 0.049, 1)
add(kind = "bh", p = num(pv), adjusted = num(p.adjust(pv, method = "BH")))
chisq_p <- vapply(Filter(function(x) x$kind == "chisq" && x$design == "part_clus", cases),
                  function(x) x$p_f, numeric(1))
add(kind = "bh", p = num(chisq_p), adjusted = num(p.adjust(chisq_p, method = "BH")))

md5 <- tools::md5sum(file.path(fx, c("coordinators.csv", "partners.csv", "lonely.csv")))
out <- list(
  meta = list(
    generated_by = "tests/survey/r/make_fixtures.R",
    r_version = R.version.string,
    survey_version = as.character(packageVersion("survey")),
    mass_version = as.character(packageVersion("MASS")),
    csv_md5 = setNames(as.list(unname(md5)), basename(names(md5)))
  ),
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = 1),
           file.path(fx, "r_reference.json"))
cat("wrote", length(cases), "cases to", file.path(fx, "r_reference.json"), "\n")
