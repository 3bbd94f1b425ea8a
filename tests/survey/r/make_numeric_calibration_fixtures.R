# Reference values for calibration on continuous totals (pipeline/survey/calibration.py's
# margin_matrix(numeric=) with calibrate()), computed with R's survey package.
#
# Run from the project root (R with survey; see make_fixtures.R):
#
#   Rscript tests/survey/r/make_numeric_calibration_fixtures.R
#
# It reads tests/survey/fixtures/{coordinators,partners,lsp_scores}.csv and writes
# tests/survey/fixtures/r_calibration_numeric.json. The populations are declared here and written into
# the JSON: the frame's authority-type by region counts of make_calibration_fixtures.R, each LSP carrying
# its type's mean IMD score (so the score's total within each type is the declared total), and a
# partner population (counts and score totals by type) for calibration of partner rows. pytest only
# reads the JSON; it never needs R.
#
# Cases: calibrate(~authority_type * imd_score + region) linear, raking and logit (bounded), and
# calibrate(~authority_type + region + imd_score) (an overall total) on the coordinator design
# (stratified, fpc); the same formula at LSP level for the partner design (estimates as svyratio of
# LSP totals), linear, raking and logit; calibrate(~authority_type * imd_score) of partner rows on the
# two-stage partner design (LSPs without replacement, partners within them with replacement), linear
# and raking.

suppressPackageStartupMessages(library(survey))
suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
root <- if (length(script)) normalizePath(file.path(dirname(script), "..")) else "tests/survey"
fx <- file.path(root, "fixtures")

d <- read.csv(file.path(fx, "coordinators.csv"), stringsAsFactors = FALSE)
p <- read.csv(file.path(fx, "partners.csv"), stringsAsFactors = FALSE)
scores <- read.csv(file.path(fx, "lsp_scores.csv"), stringsAsFactors = FALSE)
d$imd_score <- scores$imd_score[match(d$lsp_id, scores$lsp_id)]
p$imd_score <- scores$imd_score[match(p$lsp_id, scores$lsp_id)]
p$N_stage2 <- Inf  # the second stage drawn with replacement
stopifnot(!anyNA(d$imd_score), !anyNA(p$imd_score))

types <- c("county", "london_borough", "metropolitan_district", "shire_district", "unitary")
regions <- c("midlands", "north", "south")
pop <- data.frame(
  authority_type = factor(rep(types, each = 3), levels = types),
  region = factor(rep(regions, times = 5), levels = regions),
  count = c(9, 12, 13, 7, 12, 14, 8, 14, 14, 70, 80, 88, 12, 15, 20)
)
# The frame's mean score per type: declared, near the coordinators' own means, so the calibration moves
# the weights by a few per cent.
type_mean <- c(county = 16.8, london_borough = 31.0, metropolitan_district = 27.9,
               shire_district = 17.6, unitary = 31.8)
pop$imd_score <- unname(type_mean[as.character(pop$authority_type)])
pop_units <- pop[rep(seq_len(nrow(pop)), pop$count), c("authority_type", "region", "imd_score")]

d$authority_type <- factor(d$authority_type, levels = types)
d$region <- factor(d$region, levels = regions)
p$authority_type <- factor(p$authority_type, levels = types)
p$region <- factor(p$region, levels = regions)

f_within <- ~authority_type * imd_score + region
f_overall <- ~authority_type + region + imd_score
totals_within <- colSums(model.matrix(f_within, pop_units))
totals_overall <- colSums(model.matrix(f_overall, pop_units))
bounds <- c(0.6, 1.7)

num <- function(x) as.numeric(x)
cases <- list()
add <- function(...) cases[[length(cases) + 1]] <<- list(...)

# ---- coordinators: one stage, stratified, fpc -------------------------------------------------------
coord <- svydesign(ids = ~1, strata = ~authority_type, fpc = ~N_h, data = d)
options(survey.lonely.psu = "fail")
coordinator_cal <- list(
  within_linear = function(des) calibrate(des, f_within, totals_within),
  within_raking = function(des) calibrate(des, f_within, totals_within, calfun = "raking"),
  within_logit = function(des) calibrate(des, f_within, totals_within, calfun = "logit", bounds = bounds),
  overall_linear = function(des) calibrate(des, f_overall, totals_overall)
)
for (name in names(coordinator_cal)) {
  des <- coordinator_cal[[name]](coord)
  for (y in c("item_bin", "item_ord", "score")) {
    f <- as.formula(paste0("~", y))
    m <- svymean(f, des, na.rm = TRUE)
    add(kind = "mean", calibration = name, design = "coord_strat", y = y, domain = NULL,
        estimate = num(coef(m)), se = num(SE(m)))
    by <- svyby(f, ~tier, des, svymean, na.rm = TRUE)
    for (i in seq_len(nrow(by))) {
      add(kind = "mean", calibration = name, design = "coord_strat", y = y,
          domain = as.character(by$tier[i]), estimate = num(by[i, y]), se = num(SE(by)[i]))
    }
  }
  add(kind = "weights", calibration = name, design = "coord_strat", lsp_id = d$lsp_id,
      weights = num(weights(des)))
}

# ---- partners at LSP level: each LSP once, partner means as svyratio of LSP totals -------------------
lsp <- do.call(rbind, lapply(split(p, p$lsp_id), function(g) {
  data.frame(lsp_id = g$lsp_id[1], authority_type = g$authority_type[1], region = g$region[1],
             imd_score = g$imd_score[1], w = g$w[1], tier = g$tier[1],
             y_bin = sum(g$item_bin, na.rm = TRUE), m_bin = sum(!is.na(g$item_bin)),
             y_ord = sum(g$item_ord, na.rm = TRUE), m_ord = sum(!is.na(g$item_ord)))
}))
lsp_des <- svydesign(ids = ~lsp_id, strata = ~authority_type, weights = ~w, data = lsp)
partner_cal <- list(
  within_linear = function(des) calibrate(des, f_within, totals_within),
  within_raking = function(des) calibrate(des, f_within, totals_within, calfun = "raking"),
  within_logit = function(des) calibrate(des, f_within, totals_within, calfun = "logit", bounds = bounds)
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
  add(kind = "weights", calibration = name, design = "partner_lsp", lsp_id = lsp$lsp_id,
      weights = num(weights(des)))
}

# ---- partner rows on the two-stage design ------------------------------------------------------------
options(survey.lonely.psu = "adjust")
two_stage <- svydesign(ids = ~lsp_id + respondent_id, strata = ~authority_type, fpc = ~N_h + N_stage2,
                       weights = ~w, data = p)
# A partner population: counts and score totals by type, a few per cent off the design's estimates.
f_rows <- ~authority_type * imd_score
estimated <- colSums(model.matrix(f_rows, p) * weights(two_stage))
shift <- 1 + 0.04 * cos(seq_along(estimated))
totals_rows <- round(estimated * shift, 1)
partner_rows_cal <- list(
  rows_linear = function(des) calibrate(des, f_rows, totals_rows),
  rows_raking = function(des) calibrate(des, f_rows, totals_rows, calfun = "raking")
)
for (name in names(partner_rows_cal)) {
  des <- partner_rows_cal[[name]](two_stage)
  for (y in c("item_bin", "item_ord")) {
    f <- as.formula(paste0("~", y))
    m <- svymean(f, des, na.rm = TRUE)
    add(kind = "mean", calibration = name, design = "part_2stage", y = y, domain = NULL,
        estimate = num(coef(m)), se = num(SE(m)))
    by <- svyby(f, ~tier, des, svymean, na.rm = TRUE)
    for (i in seq_len(nrow(by))) {
      add(kind = "mean", calibration = name, design = "part_2stage", y = y,
          domain = as.character(by$tier[i]), estimate = num(by[i, y]), se = num(SE(by)[i]))
    }
  }
  add(kind = "weights", calibration = name, design = "part_2stage", respondent_id = p$respondent_id,
      weights = num(weights(des)))
}

md5 <- tools::md5sum(file.path(fx, c("coordinators.csv", "partners.csv", "lsp_scores.csv")))
out <- list(
  generated_by = "tests/survey/r/make_numeric_calibration_fixtures.R",
  r_version = R.version.string,
  survey_version = as.character(packageVersion("survey")),
  csv_md5 = setNames(as.list(unname(md5)), basename(names(md5))),
  bounds = bounds,
  population = list(authority_type = as.character(pop$authority_type), region = as.character(pop$region),
                    count = pop$count, imd_score = pop$imd_score),
  partner_totals = list(names = names(totals_rows), values = unname(totals_rows)),
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "string"),
           file.path(fx, "r_calibration_numeric.json"))
cat("wrote", length(cases), "cases to", file.path(fx, "r_calibration_numeric.json"), "\n")
