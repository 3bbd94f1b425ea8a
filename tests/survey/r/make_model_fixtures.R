# Reference values for the engine's regression models (pipeline/survey/glm.py, olr.py with
# covariates and interactions), computed with R's survey package.
#
# Rerun from the project root (needs r-cran-survey):
#
#   Rscript tests/survey/r/make_model_fixtures.R
#
# It reads tests/survey/fixtures/{coordinators,partners}.csv (written by make_datasets.py) and
# writes tests/survey/fixtures/r_models.json: svyglm (gaussian and quasibinomial) and svyolr fits
# with covariates and a tier interaction, and regTermTest Wald tests, on the study's three design
# shapes: coordinators stratified with the finite population correction (descriptive), the same
# without it (analytic: weights N_h/n_h, strata, no fpc), and partners clustered by LSP with PSUs
# drawn with replacement. The pytest suite reads only the JSON.
#
# Written against R 4.2.2, survey 4.1-1 (Debian bookworm packages).

suppressPackageStartupMessages(library(survey))

# A small JSON writer (jsonlite is not among the Debian packages installed here): numbers to 17
# significant digits, so the fixture carries R's doubles exactly; length-one vectors unboxed.
json <- function(x, indent = "") {
  inner <- paste0(indent, "  ")
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0) return(if (is.null(names(x))) "[]" else "{}")
    items <- vapply(x, json, character(1), indent = inner)
    if (is.null(names(x))) {
      return(paste0("[\n", inner, paste(items, collapse = paste0(",\n", inner)), "\n", indent, "]"))
    }
    keys <- paste0('"', names(x), '": ', items)
    return(paste0("{\n", inner, paste(keys, collapse = paste0(",\n", inner)), "\n", indent, "}"))
  }
  one <- function(v) {
    if (is.character(v)) return(paste0('"', gsub('"', '\\\\"', v), '"'))
    if (is.logical(v)) return(if (is.na(v)) "null" else tolower(as.character(v)))
    if (is.na(v)) return('"NA"')
    if (is.infinite(v)) return(if (v > 0) '"Inf"' else '"-Inf"')
    sprintf("%.17g", v)
  }
  vals <- vapply(as.list(x), one, character(1))
  if (length(vals) == 1) vals else paste0("[", paste(vals, collapse = ", "), "]")
}

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
root <- if (length(script)) normalizePath(file.path(dirname(script), "..")) else "tests/survey"
fx <- file.path(root, "fixtures")

d <- read.csv(file.path(fx, "coordinators.csv"), stringsAsFactors = FALSE)
p <- read.csv(file.path(fx, "partners.csv"), stringsAsFactors = FALSE)
# The analytic coordinator design keeps the weights N_h / n_h but drops the fpc.
d$w <- d$N_h / ave(rep(1, nrow(d)), d$authority_type, FUN = sum)

options(survey.lonely.psu = "fail")
designs <- list(
  coord_strat = svydesign(ids = ~1, strata = ~authority_type, fpc = ~N_h, data = d),
  coord_analytic = svydesign(ids = ~1, strata = ~authority_type, weights = ~w, data = d),
  part_wr = svydesign(ids = ~lsp_id, strata = ~authority_type, weights = ~w, data = p)
)

num <- function(x) {
  x <- as.numeric(x)
  out <- as.list(x)
  out[is.nan(x)] <- "NaN"
  out[is.na(x) & !is.nan(x)] <- "NA"
  if (length(out) == 1) out[[1]] else out
}

cases <- list()
add <- function(...) cases[[length(cases) + 1]] <<- list(...)

wald <- function(fit, term) {
  tt <- regTermTest(fit, as.formula(paste0("~", term)), method = "Wald")
  list(term = term, f = num(tt$Ftest), ndf = num(tt$df), ddf = num(tt$ddf), p = num(tt$p))
}

glm_case <- function(key, response, terms, family, tests) {
  des <- designs[[key]]
  f <- as.formula(paste0(response, " ~ ", paste(terms, collapse = " + ")))
  fam <- if (family == "gaussian") gaussian() else quasibinomial()
  # Fully converged IRLS, so the comparison is of the estimator, not of glm's stopping rule.
  fit <- svyglm(f, design = des, family = fam, control = glm.control(epsilon = 1e-14, maxit = 100))
  cf <- coef(fit)
  ci <- confint(fit, ddf = fit$df.residual)
  add(kind = "svyglm", design = key, response = response, terms = terms, family = family,
      names = names(cf), coef = num(cf), se = num(SE(fit)), vcov = num(vcov(fit)),
      ci_low = num(ci[, 1]), ci_high = num(ci[, 2]),
      p = num(summary(fit)$coefficients[, 4]),
      df_residual = num(fit$df.residual), n = length(fit$y),
      tests = lapply(tests, function(t) wald(fit, t)))
}

olr_case <- function(key, response, terms, tests) {
  des <- designs[[key]]
  f <- as.formula(paste0("factor(", response, ") ~ ", paste(terms, collapse = " + ")))
  # do.call puts the design itself into the call, which regTermTest re-evaluates.
  tight <- list(reltol = 0, maxit = 1000)
  fit <- do.call(svyolr, list(formula = f, design = des, control = tight))
  # BFGS with reltol = 0 can still stop short where the likelihood is flat; restarting it from
  # its own estimate (start is (beta, theta), theta the first cut point then log-spacings)
  # resets its Hessian approximation and carries it to the maximum.
  for (i in 1:5) {
    start <- c(fit$coefficients, fit$zeta[1], log(diff(fit$zeta)))
    fit <- do.call(svyolr, list(formula = f, design = des, start = unname(start), control = tight))
  }
  cf <- coef(fit)
  add(kind = "svyolr", design = key, response = response, terms = terms,
      names = names(cf), coef = num(cf), se = num(sqrt(diag(vcov(fit)))),
      df_residual = num(fit$df.residual), deviance = num(fit$deviance),
      tests = lapply(tests, function(t) wald(fit, t)))
}

for (key in c("coord_strat", "coord_analytic")) {
  glm_case(key, "score", c("tier", "region"), "gaussian", c("tier", "region"))
  glm_case(key, "score", c("tier", "region", "item_ord"), "gaussian", c("tier", "item_ord"))
  glm_case(key, "score", c("tier", "region", "tier:region"), "gaussian", c("tier:region", "region"))
  glm_case(key, "item_bin", c("tier", "region"), "quasibinomial", c("tier", "region"))
  glm_case(key, "item_bin", c("tier", "region", "score", "tier:region"), "quasibinomial",
           c("tier:region", "score"))
  olr_case(key, "item_ord", c("tier", "region", "score"), c("tier", "region"))
  olr_case(key, "item_ord", c("tier", "region", "tier:region"), c("tier:region"))
}
glm_case("part_wr", "item_ord", c("tier", "role", "region"), "gaussian", c("tier", "role"))
glm_case("part_wr", "item_ord", c("tier", "role", "region", "tier:role"), "gaussian", c("tier:role"))
glm_case("part_wr", "item_bin", c("tier", "role", "region"), "quasibinomial", c("tier", "role"))
glm_case("part_wr", "item_bin", c("tier", "role", "tier:role"), "quasibinomial", c("tier:role"))
olr_case("part_wr", "item_ord", c("tier", "role", "region"), c("role", "region"))
olr_case("part_wr", "item_ord", c("tier", "role", "tier:role"), c("tier:role"))

md5 <- tools::md5sum(file.path(fx, c("coordinators.csv", "partners.csv")))
out <- list(
  meta = list(
    generated_by = "tests/survey/r/make_model_fixtures.R",
    r_version = R.version.string,
    survey_version = as.character(packageVersion("survey")),
    csv_md5 = setNames(as.list(unname(md5)), basename(names(md5)))
  ),
  cases = cases
)
writeLines(json(out), file.path(fx, "r_models.json"))
cat("wrote", length(cases), "cases to", file.path(fx, "r_models.json"), "\n")
