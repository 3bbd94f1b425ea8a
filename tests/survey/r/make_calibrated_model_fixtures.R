# Reference values for regression models on calibrated designs (pipeline/survey/glm.py and olr.py on a
# design from pipeline/survey/calibration.py), computed with R's survey package: the models stage fits
# every model on the primary (calibrated) weighting, so its variances must come from the calibration
# residuals exactly as R's svyglm/svyolr on a calibrate()d design take them.
#
# Rerun from the project root (needs r-cran-survey):
#
#   Rscript tests/survey/r/make_calibrated_model_fixtures.R
#
# It reads tests/survey/fixtures/{coordinators,partners}.csv and writes
# tests/survey/fixtures/r_calibrated_models.json. The population margins are those of
# make_calibration_fixtures.R (authority type and region, 388 LSPs), written into the JSON.
#
# Designs:
# - coord_analytic_{raking,linear}: coordinators, one stage, stratified, weights N_h/n_h, no fpc (the
#   study's analytic design), calibrate()d to type + region;
# - coord_strat_raking: the same with the fpc (the descriptive design);
# - part_2stage_raking: partners, two stages (LSPs without replacement, partners within them with
#   replacement), calibrate()d at row level (R's own calibration of a two-stage design);
# - part_lsp_raking: the study's partner calibration: the LSPs with a partner respondent calibrated at
#   LSP level (each LSP counts once), every partner taking its LSP's g-weight. R has no one call for a
#   partner-level model on an LSP-level calibration, so the model is svyglm/svyolr on the partners with
#   the calibrated weights and its variance is R's own svyrecvar of the model's influence values (as
#   svyglm/svyolr compute them, captured by trace) summed to LSPs, with the calibrated LSP design's
#   postStrata: the calibration residuals taken on LSP totals.
#
# svyolr SEs: R inverts optim's finite-difference Hessian (step 1e-3); the fixture also records the
# SEs from R's analytic Hessian route at a finer step (ndeps 1e-5) so the tolerance can be measured.

suppressPackageStartupMessages(library(survey))

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
num <- function(x) as.list(as.numeric(x))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
root <- if (length(script)) normalizePath(file.path(dirname(script), "..")) else "tests/survey"
fx <- file.path(root, "fixtures")

d <- read.csv(file.path(fx, "coordinators.csv"), stringsAsFactors = FALSE)
p <- read.csv(file.path(fx, "partners.csv"), stringsAsFactors = FALSE)
p <- p[order(p$lsp_id, p$respondent_id), ]
rownames(p) <- NULL
d$w <- d$N_h / ave(rep(1, nrow(d)), d$authority_type, FUN = sum)
p$N_stage2 <- Inf

pop_cells <- data.frame(
  authority_type = rep(c("county", "london_borough", "metropolitan_district", "shire_district", "unitary"),
                       each = 3),
  region = rep(c("midlands", "north", "south"), times = 5),
  Freq = c(9, 12, 13, 7, 12, 14, 8, 14, 14, 70, 80, 88, 12, 15, 20)
)
pop_type <- aggregate(Freq ~ authority_type, pop_cells, sum)
pop_region <- aggregate(Freq ~ region, pop_cells, sum)
totals <- c(`(Intercept)` = 388,
            setNames(pop_type$Freq[-1], paste0("authority_type", pop_type$authority_type[-1])),
            setNames(pop_region$Freq[-1], paste0("region", pop_region$region[-1])))
for (col in c("authority_type", "region")) {
  levels <- sort(unique(pop_cells[[col]]))
  d[[col]] <- factor(d[[col]], levels = levels)
  p[[col]] <- factor(p[[col]], levels = levels)
}

# The calibration is far tighter than R's default epsilon (1e-7), so weights agree to rounding.
cal <- function(des, calfun) calibrate(des, ~authority_type + region, totals, calfun = calfun, epsilon = 1e-13)

options(survey.lonely.psu = "adjust")
# Each design before calibration, as a function of its weights (so the calibrated weights can be fixed).
uncalibrated <- list(
  coord_analytic = function(w) svydesign(ids = ~1, strata = ~authority_type, weights = w, data = d),
  coord_strat = function(w) svydesign(ids = ~1, strata = ~authority_type, fpc = ~N_h, weights = w, data = d),
  part_2stage = function(w) svydesign(ids = ~lsp_id + respondent_id, strata = ~authority_type,
                                      fpc = ~N_h + N_stage2, weights = w, data = p),
  part_lsp = function(w) svydesign(ids = ~lsp_id, strata = ~authority_type, weights = w, data = p)
)
designs <- list(
  coord_analytic_raking = cal(uncalibrated$coord_analytic(~w), "raking"),
  coord_analytic_linear = cal(uncalibrated$coord_analytic(~w), "linear"),
  coord_strat_raking = cal(uncalibrated$coord_strat(d$N_h / ave(d$N_h, d$authority_type, FUN = length)), "raking"),
  part_2stage_raking = cal(uncalibrated$part_2stage(~w), "raking")
)

# The study's partner calibration, at LSP level.
lsp <- p[!duplicated(p$lsp_id), c("lsp_id", "authority_type", "region", "w")]
lsp_des <- svydesign(ids = ~lsp_id, strata = ~authority_type, weights = ~w, data = lsp)
lsp_cal <- cal(lsp_des, "raking")
lsp_g <- setNames(weights(lsp_cal) / weights(lsp_des), lsp$lsp_id)
designs$part_lsp_raking <- uncalibrated$part_lsp(p$w * lsp_g[p$lsp_id])

# The influence values svyglm and svyolr hand to svyrecvar, captured as they pass.
captured <- NULL
trace("svyrecvar", where = asNamespace("survey"), print = FALSE,
      tracer = quote(captured <<- x))

# R's svyolr cannot fit a calibrated design with missing values (it subsets the design, which for a
# calibrated design keeps the rows at weight zero, and then pairs all the weights with the complete
# rows). Its variance is therefore taken as svyglm's is: the fit on the complete rows with the calibrated
# weights fixed, its influence values (zero on the other rows) through the calibrated design's
# svyrecvar. For the LSP-level calibration the influence values are summed to LSPs first.
calibrated_vcov <- function(key, fit_rows) {
  if (key == "part_lsp_raking") {
    z <- rowsum(captured, p$lsp_id[fit_rows], reorder = FALSE)
    full <- matrix(0, nrow(lsp), ncol(z))
    full[match(rownames(z), lsp$lsp_id), ] <- z
    return(survey:::svyrecvar(full, lsp_cal$cluster, lsp_cal$strata, lsp_cal$fpc,
                              postStrata = lsp_cal$postStrata))
  }
  des <- designs[[key]]
  full <- matrix(0, length(fit_rows), ncol(captured))
  full[fit_rows, ] <- captured
  survey:::svyrecvar(full, des$cluster, des$strata, des$fpc, postStrata = des$postStrata)
}
fixed <- function(key) uncalibrated[[sub("_(raking|linear)$", "", key)]](weights(designs[[key]]))

cases <- list()
add <- function(...) cases[[length(cases) + 1]] <<- list(...)

glm_case <- function(key, response, terms, family) {
  des <- designs[[key]]
  data <- if (startsWith(key, "coord")) d else p
  f <- as.formula(paste0(response, " ~ ", paste(terms, collapse = " + ")))
  fam <- if (family == "gaussian") gaussian() else quasibinomial()
  fit <- svyglm(f, design = des, family = fam, control = glm.control(epsilon = 1e-14, maxit = 100))
  v <- vcov(fit)
  if (key == "part_lsp_raking") {
    v <- calibrated_vcov(key, complete.cases(data[, c(response, terms)]))
  }
  add(kind = "svyglm", design = key, response = response, terms = terms, family = family,
      names = names(coef(fit)), coef = num(coef(fit)), se = num(sqrt(diag(v))), vcov = num(v),
      df_residual = fit$df.residual, n = length(fit$y), weights = num(weights(des)))
}

olr_case <- function(key, response, terms) {
  des <- fixed(key)
  data <- if (startsWith(key, "coord")) d else p
  rows <- complete.cases(data[, c(response, terms)])
  f <- as.formula(paste0("factor(", response, ") ~ ", paste(terms, collapse = " + ")))
  tight <- list(reltol = 0, maxit = 1000)
  fit <- do.call(svyolr, list(formula = f, design = des, control = tight))
  for (i in 1:5) {
    start <- c(fit$coefficients, fit$zeta[1], log(diff(fit$zeta)))
    fit <- do.call(svyolr, list(formula = f, design = des, start = unname(start), control = tight))
  }
  v <- calibrated_vcov(key, rows)
  # The same fit with optim's Hessian at a finer finite-difference step (1e-5 instead of 1e-3).
  start <- c(fit$coefficients, fit$zeta[1], log(diff(fit$zeta)))
  fine <- do.call(svyolr, list(formula = f, design = des, start = unname(start),
                               control = c(tight, list(ndeps = rep(1e-5, length(start))))))
  v_fine <- calibrated_vcov(key, rows)
  cf <- coef(fit)
  add(kind = "svyolr", design = key, response = response, terms = terms,
      names = names(cf), coef = num(cf), se = num(sqrt(diag(v))), se_fine_step = num(sqrt(diag(v_fine))),
      coef_fine_step = num(coef(fine)), df_residual = fit$df.residual, weights = num(weights(designs[[key]])))
}

for (key in c("coord_analytic_raking", "coord_analytic_linear", "coord_strat_raking")) {
  glm_case(key, "score", c("tier", "region"), "gaussian")
  glm_case(key, "item_bin", c("tier", "region", "score"), "quasibinomial")
  olr_case(key, "item_ord", c("tier", "region", "score"))
}
for (key in c("part_2stage_raking", "part_lsp_raking")) {
  glm_case(key, "item_ord", c("tier", "role", "region"), "gaussian")
  glm_case(key, "item_bin", c("tier", "role"), "quasibinomial")
  olr_case(key, "item_ord", c("tier", "role", "region"))
}
untrace("svyrecvar", where = asNamespace("survey"))

md5 <- tools::md5sum(file.path(fx, c("coordinators.csv", "partners.csv")))
out <- list(
  meta = list(
    generated_by = "tests/survey/r/make_calibrated_model_fixtures.R",
    r_version = R.version.string,
    survey_version = as.character(packageVersion("survey")),
    csv_md5 = setNames(as.list(unname(md5)), basename(names(md5)))
  ),
  population = list(authority_type = as.list(pop_cells$authority_type), region = as.list(pop_cells$region),
                    count = as.list(pop_cells$Freq)),
  cases = cases
)
writeLines(json(out), file.path(fx, "r_calibrated_models.json"))
cat("wrote", length(cases), "cases to", file.path(fx, "r_calibrated_models.json"), "\n")
