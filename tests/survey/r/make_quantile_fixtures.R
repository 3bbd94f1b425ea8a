# Reference values for design-based quantiles (pipeline/survey/quantile.py), computed with R's survey
# package's svyquantile on the study's designs.
#
# Run from the project root (R with survey and jsonlite; see make_fixtures.R):
#
#   Rscript tests/survey/r/make_quantile_fixtures.R
#
# It reads tests/survey/fixtures/{coordinators,partners}.csv and writes
# tests/survey/fixtures/r_quantiles.json. Every call uses svyquantile's defaults, which the JSON records
# from the installed version's formals (survey 4.1-1: interval.type = "mean", i.e. Woodruff's interval,
# and qrule = "math"), with na.rm = TRUE and the 10th, 25th, 50th, 75th and 90th percentiles; whole
# designs and the domains of tier (subset()), on the fixtures' integer variables and a continuous one. Designs: the coordinators' stratified design with fpc,
# unweighted, and raked to the population margins of make_calibration_fixtures.R; the partners'
# two-stage descriptive design, the analytic one (PSUs with replacement) and the clustered one with fpc.
# pytest only reads the JSON; it never needs R.

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
p$N_stage2 <- Inf
# The fixture variables are small integers, so most quantiles sit on ties; `spread` (recomputed in
# Python with the same arithmetic) is a continuous variable that exercises the quantile rule between
# distinct values.
d$spread <- d$score * 1.7 + d$item_ord * 0.31 + (seq_len(nrow(d)) %% 11) / 23
p$spread <- p$item_ord * 1.3 + (seq_len(nrow(p)) %% 17) / 29
options(survey.lonely.psu = "adjust")

pop_cells <- data.frame(
  authority_type = rep(c("county", "london_borough", "metropolitan_district", "shire_district", "unitary"),
                       each = 3),
  region = rep(c("midlands", "north", "south"), times = 5),
  Freq = c(9, 12, 13, 7, 12, 14, 8, 14, 14, 70, 80, 88, 12, 15, 20)
)
pop_type <- aggregate(Freq ~ authority_type, pop_cells, sum)
pop_region <- aggregate(Freq ~ region, pop_cells, sum)
totals_main <- c(`(Intercept)` = 388,
                 setNames(pop_type$Freq[-1], paste0("authority_type", pop_type$authority_type[-1])),
                 setNames(pop_region$Freq[-1], paste0("region", pop_region$region[-1])))
d$authority_type <- factor(d$authority_type, levels = pop_type$authority_type)
d$region <- factor(d$region, levels = pop_region$region)

coord <- svydesign(ids = ~1, strata = ~authority_type, fpc = ~N_h, data = d)
designs <- list(
  coord_strat = list(des = coord, vars = c("score", "item_ord", "spread")),
  coord_unw = list(des = svydesign(ids = ~1, data = d), vars = c("score", "item_ord", "spread")),
  coord_raking = list(des = calibrate(coord, ~authority_type + region, totals_main, calfun = "raking"),
                      vars = c("score", "item_ord", "spread")),
  part_2stage = list(des = svydesign(ids = ~lsp_id + respondent_id, strata = ~authority_type,
                                     fpc = ~N_h + N_stage2, weights = ~w, data = p), vars = c("item_ord", "spread")),
  part_wr = list(des = svydesign(ids = ~lsp_id, strata = ~authority_type, weights = ~w, data = p),
                 vars = c("item_ord", "spread")),
  part_clus = list(des = svydesign(ids = ~lsp_id, strata = ~authority_type, fpc = ~N_h, weights = ~w,
                                   data = p), vars = c("item_ord", "spread"))
)
probs <- c(0.1, 0.25, 0.5, 0.75, 0.9)

num <- function(x) {
  x <- as.numeric(x)
  out <- as.list(x)
  out[is.na(x)] <- "NaN"
  out
}

cases <- list()
for (key in names(designs)) {
  des <- designs[[key]]$des
  for (var in designs[[key]]$vars) {
    f <- as.formula(paste0("~", var))
    domains <- c(list(NULL), as.list(sort(unique(des$variables$tier))))
    for (dom in domains) {
      sub <- if (is.null(dom)) des else des[des$variables$tier == dom, ]
      q <- svyquantile(f, sub, probs, na.rm = TRUE)[[1]]
      cases[[length(cases) + 1]] <- list(
        design = key, var = var, domain = if (is.null(dom)) NA else dom, p = probs,
        quantile = num(q[, "quantile"]), ci_low = num(q[, 2]), ci_high = num(q[, 3]), se = num(q[, "se"]),
        df = degf(sub[!is.na(sub$variables[[var]]), ])
      )
    }
  }
}

defaults <- formals(survey:::svyquantile.survey.design)
meta <- list(
  survey_version = as.character(packageVersion("survey")),
  r_version = R.version.string,
  interval_type_default = eval(defaults$interval.type)[1],
  qrule_default = eval(defaults$qrule)[1],
  csv_md5 = as.list(setNames(unname(tools::md5sum(file.path(fx, c("coordinators.csv", "partners.csv")))),
                             c("coordinators.csv", "partners.csv")))
)
writeLines(toJSON(list(meta = meta, cases = cases), auto_unbox = TRUE, digits = NA, na = "string", pretty = FALSE),
           file.path(fx, "r_quantiles.json"))
cat("wrote", length(cases), "cases to", file.path(fx, "r_quantiles.json"), "\n")
