# Reference values for calibration and replicate weights (pipeline/survey/calibration.py and
# replicate.py), computed with R's survey package on the study's designs.
#
# Run from the project root (R with survey and jsonlite; see make_fixtures.R):
#
#   Rscript tests/survey/r/make_calibration_fixtures.R
#
# It reads tests/survey/fixtures/{coordinators,partners}.csv and writes
# tests/survey/fixtures/r_calibration.json. The population margins (authority type by region, summing
# to the frame's 388 LSPs) are declared here and written into the JSON, so the Python tests use the
# same totals. pytest only reads the JSON; it never needs R.
#
# Cases: postStratify, rake, calibrate (linear, raking, linear and logit with bounds, raking with
# trim, a joint type x region margin) on the coordinator design (stratified, fpc); calibrate at LSP
# level for the partner design (estimates as svyratio of LSP totals); as.svrepdesign JKn exact, also
# recalibrated per replicate; bootstrap on R's own replicate factors (exact) and by the SE of 4000
# replicates (Monte Carlo).

suppressPackageStartupMessages(library(survey))

# A small JSON writer (jsonlite is not always installed): named lists become objects, other lists and
# vectors of length > 1 arrays; numbers keep 17 significant digits; NaN/NA are written as the string
# "NaN" (the Python loader turns it back into a float).
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    items <- vapply(x, to_json, "")
    if (!is.null(names(x)) && all(names(x) != "")) {
      return(paste0("{", paste0('"', names(x), '":', items, collapse = ","), "}"))
    }
    return(paste0("[", paste(items, collapse = ","), "]"))
  }
  if (is.factor(x)) x <- as.character(x)
  one <- function(v) {
    if (is.character(v)) return(paste0('"', gsub('"', '\\\\"', v), '"'))
    if (is.logical(v)) return(if (is.na(v)) '"NaN"' else if (v) "true" else "false")
    if (is.na(v)) return('"NaN"')
    formatC(v, digits = 17, format = "g")
  }
  parts <- vapply(as.list(x), one, "")
  if (length(x) == 1) parts else paste0("[", paste(parts, collapse = ","), "]")
}

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
root <- if (length(script)) normalizePath(file.path(dirname(script), "..")) else "tests/survey"
fx <- file.path(root, "fixtures")

d <- read.csv(file.path(fx, "coordinators.csv"), stringsAsFactors = FALSE)
p <- read.csv(file.path(fx, "partners.csv"), stringsAsFactors = FALSE)
options(survey.lonely.psu = "fail")

pop_cells <- data.frame(
  authority_type = rep(c("county", "london_borough", "metropolitan_district", "shire_district", "unitary"),
                       each = 3),
  region = rep(c("midlands", "north", "south"), times = 5),
  Freq = c(9, 12, 13, 7, 12, 14, 8, 14, 14, 70, 80, 88, 12, 15, 20)
)
pop_type <- aggregate(Freq ~ authority_type, pop_cells, sum)
pop_region <- aggregate(Freq ~ region, pop_cells, sum)
d$authority_type <- factor(d$authority_type, levels = pop_type$authority_type)
d$region <- factor(d$region, levels = pop_region$region)
d$cell <- interaction(d$authority_type, d$region, sep = "|")

totals_main <- c(`(Intercept)` = 388,
                 setNames(pop_type$Freq[-1], paste0("authority_type", pop_type$authority_type[-1])),
                 setNames(pop_region$Freq[-1], paste0("region", pop_region$region[-1])))
mm_joint <- model.matrix(~ authority_type * region, d)
pop_joint_cells <- pop_cells
pop_joint_cells$authority_type <- factor(pop_joint_cells$authority_type, levels = levels(d$authority_type))
pop_joint_cells$region <- factor(pop_joint_cells$region, levels = levels(d$region))
totals_joint <- colSums(model.matrix(~ authority_type * region, pop_joint_cells) * pop_joint_cells$Freq)

coord <- svydesign(ids = ~1, strata = ~authority_type, fpc = ~N_h, data = d)

num <- function(x) as.numeric(x)

cases <- list()
add <- function(...) cases[[length(cases) + 1]] <<- list(...)

estimates <- function(des, name, design_key) {
  for (y in c("item_bin", "item_ord", "score")) {
    f <- as.formula(paste0("~", y))
    m <- svymean(f, des, na.rm = TRUE)
    add(kind = "mean", calibration = name, design = design_key, y = y, domain = NULL,
        estimate = num(coef(m)), se = num(SE(m)))
    by <- svyby(f, ~tier, des, svymean, na.rm = TRUE)
    for (i in seq_len(nrow(by))) {
      add(kind = "mean", calibration = name, design = design_key, y = y, domain = as.character(by$tier[i]),
          estimate = num(by[i, y]), se = num(SE(by)[i]))
    }
  }
  add(kind = "weights", calibration = name, design = design_key, weights = as.list(unname(weights(des))))
}

calibrations <- list(
  post_stratify = function(des) postStratify(des, ~region, pop_region),
  rake = function(des) rake(des, list(~authority_type, ~region), list(pop_type, pop_region)),
  linear = function(des) calibrate(des, ~authority_type + region, totals_main),
  raking = function(des) calibrate(des, ~authority_type + region, totals_main, calfun = "raking"),
  linear_bounded = function(des) calibrate(des, ~authority_type + region, totals_main, bounds = c(0.96, 1.075)),
  logit_bounded = function(des) calibrate(des, ~authority_type + region, totals_main, calfun = "logit",
                                          bounds = c(0.96, 1.075)),
  raking_bounded = function(des) calibrate(des, ~authority_type + region, totals_main, calfun = "raking",
                                           bounds = c(0.967, 1.082)),
  raking_trimmed = function(des) suppressMessages(calibrate(des, ~authority_type + region, totals_main,
                                                            calfun = "raking", trim = c(0.97, 1.08))),
  joint_linear = function(des) calibrate(des, ~authority_type * region, totals_joint),
  joint_raking = function(des) calibrate(des, ~authority_type * region, totals_joint, calfun = "raking")
)
for (name in names(calibrations)) estimates(calibrations[[name]](coord), name, "coord_strat")
estimates(coord, "none", "coord_strat")

# ---- partners: calibration of the LSPs with a partner respondent, at LSP level -------------------
# Each LSP counts once, with the weight N_h/m_h its partners share; a partner mean is the ratio of
# LSP totals, svyratio(~Y, ~M), on the calibrated LSP-level design.
p$authority_type <- factor(p$authority_type, levels = levels(d$authority_type))
p$region <- factor(p$region, levels = levels(d$region))
lsp <- do.call(rbind, lapply(split(p, p$lsp_id), function(g) {
  data.frame(lsp_id = g$lsp_id[1], authority_type = g$authority_type[1], region = g$region[1], w = g$w[1],
             tier = g$tier[1],
             y_bin = sum(g$item_bin, na.rm = TRUE), m_bin = sum(!is.na(g$item_bin)),
             y_ord = sum(g$item_ord, na.rm = TRUE), m_ord = sum(!is.na(g$item_ord)))
}))
lsp_des <- svydesign(ids = ~lsp_id, strata = ~authority_type, weights = ~w, data = lsp)
partner_cal <- list(
  none = function(des) des,
  linear = function(des) calibrate(des, ~authority_type + region, totals_main),
  raking = function(des) calibrate(des, ~authority_type + region, totals_main, calfun = "raking")
)
for (name in names(partner_cal)) {
  des <- partner_cal[[name]](lsp_des)
  for (pair in list(c("item_bin", "y_bin", "m_bin"), c("item_ord", "y_ord", "m_ord"))) {
    r <- svyratio(as.formula(paste0("~", pair[2])), as.formula(paste0("~", pair[3])), des)
    add(kind = "mean", calibration = name, design = "partner_lsp", y = pair[1], domain = NULL,
        estimate = num(coef(r)), se = num(SE(r)))
    for (t in sort(unique(lsp$tier))) {
      r <- svyratio(as.formula(paste0("~", pair[2])), as.formula(paste0("~", pair[3])),
                    subset(des, tier == t))
      add(kind = "mean", calibration = name, design = "partner_lsp", y = pair[1], domain = t,
          estimate = num(coef(r)), se = num(SE(r)))
    }
  }
  add(kind = "weights", calibration = name, design = "partner_lsp", lsp_id = as.list(lsp$lsp_id),
      weights = as.list(unname(weights(des))))
}

# ---- replicate weights ----------------------------------------------------------------------------
rep_estimates <- function(rdes, name) {
  for (y in c("item_bin", "item_ord", "score")) {
    f <- as.formula(paste0("~", y))
    m <- svymean(f, rdes, na.rm = TRUE)
    add(kind = "replicate_mean", calibration = name, design = "coord_strat", y = y, domain = NULL,
        estimate = num(coef(m)), se = num(SE(m)))
    for (t in sort(unique(d$tier))) {
      m <- svymean(f, subset(rdes, tier == t), na.rm = TRUE)
      add(kind = "replicate_mean", calibration = name, design = "coord_strat", y = y, domain = t,
          estimate = num(coef(m)), se = num(SE(m)))
    }
  }
}
jkn <- as.svrepdesign(coord, type = "JKn")
rep_estimates(jkn, "jkn")
rep_estimates(calibrate(jkn, ~authority_type + region, totals_main), "jkn_linear")
rep_estimates(calibrate(jkn, ~authority_type + region, totals_main, calfun = "raking"), "jkn_raking")

set.seed(20080401)
boot <- as.svrepdesign(coord, type = "bootstrap", replicates = 50, compress = FALSE)
rep_estimates(boot, "bootstrap50")
add(kind = "bootstrap_factors", design = "coord_strat", replicates = 50,
    factors = unname(lapply(seq_len(ncol(boot$repweights)), function(j) as.numeric(boot$repweights[, j]))),
    scale = boot$scale, rscales = num(boot$rscales))

set.seed(20090423)
boot_big <- as.svrepdesign(coord, type = "bootstrap", replicates = 4000)
for (y in c("item_bin", "item_ord", "score")) {
  m <- svymean(as.formula(paste0("~", y)), boot_big, na.rm = TRUE)
  add(kind = "bootstrap_mc_se", design = "coord_strat", y = y, replicates = 4000, se = num(SE(m)))
}

md5 <- tools::md5sum(file.path(fx, c("coordinators.csv", "partners.csv")))
out <- list(
  generated_by = "tests/survey/r/make_calibration_fixtures.R",
  r_version = R.version.string,
  survey_version = as.character(packageVersion("survey")),
  csv_md5 = setNames(as.list(unname(md5)), basename(names(md5))),
  population = list(authority_type = as.list(pop_cells$authority_type), region = as.list(pop_cells$region),
                    count = as.list(pop_cells$Freq)),
  cases = cases
)
writeLines(to_json(out), file.path(fx, "r_calibration.json"))
cat("wrote", length(cases), "cases to", file.path(fx, "r_calibration.json"), "\n")
