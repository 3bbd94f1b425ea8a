# R's side of benchmarks/engine_vs_r.py: the study's per-item work with the survey package.
#
#   Rscript benchmarks/engine_vs_r.R survey.csv results.json
#
# For each Likert item q01..q60 of survey.csv: the proportion agreeing (4 or 5) with a logit 95% CI
# by tier and by authority type, the Rao-Scott F test of the item by tier, the proportional-odds
# regression of the item on tier and maturity. Writes the results and the CPU time (user + system)
# of that work alone (after the package is loaded and the data read) as JSON. The Python side runs
# the same work with the engine and compares.

suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "fail")

args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
items <- grep("^q[0-9]+$", names(d), value = TRUE)
for (item in items) d[[paste0("agree_", item)]] <- as.numeric(d[[item]] >= 4)
d$tier <- factor(d$tier)
d$maturity <- factor(d$maturity)
d$authority_type <- factor(d$authority_type)

num <- function(x) {
  out <- sprintf("%.17g", x)
  out[is.na(x)] <- "NaN"
  out
}
started <- proc.time()
des <- svydesign(ids = ~1, strata = ~authority_type, fpc = ~N_h, data = d)
ci <- list()
rao_scott_f <- list()
olr <- list()
for (item in items) {
  agree <- as.formula(paste0("~agree_", item))
  for (by in c("tier", "authority_type")) {
    res <- svyby(agree, as.formula(paste0("~", by)), des, svyciprop, method = "logit",
                 vartype = "ci", na.rm = TRUE)
    for (i in seq_len(nrow(res))) {
      ci[[paste(item, by, as.character(res[[by]][i]), sep = "|")]] <-
        c(res[i, 2], res[i, "ci_l"], res[i, "ci_u"])
    }
  }
  test <- svychisq(as.formula(paste0("~", item, " + tier")), des, statistic = "F")
  rao_scott_f[[item]] <- unname(test$statistic)
  fit <- svyolr(as.formula(paste0("factor(", item, ") ~ tier + maturity")), des)
  olr[[item]] <- unname(fit$coefficients)
}
used <- proc.time() - started
cpu <- unname(used["user.self"] + used["sys.self"])

json <- function(values) {
  paste0("{", paste0('"', names(values), '": [', vapply(values, function(v) {
    paste(num(v), collapse = ", ")
  }, ""), "]", collapse = ", "), "}")
}
writeLines(paste0('{"cpu_seconds": ', num(cpu), ', "ci": ', json(ci),
                  ', "rao_scott_f": ', json(rao_scott_f), ', "olr_coefficients": ', json(olr), "}"),
           args[2])
