# Reference values for Rubin's rules (pipeline/survey/mi.py), computed with R's mitools.
#
# Rerun from the project root (needs r-cran-mitools):
#
#   Rscript tests/survey/r/make_mitools_fixture.R
#
# Writes tests/survey/fixtures/r_mitools.json: for seeded sets of m imputed estimates and variances
# (m = 2, 5, 20; between-imputation spread small to large against the within variance), and complete-data
# df of Inf, 30 and 172, MIcombine's pooled estimate, variance, df and missinfo (the fraction of missing
# information). The inputs are in the JSON too, so the Python tests need no R.

suppressPackageStartupMessages(library(mitools))

set.seed(20090501)
cases <- list()
for (m in c(2, 5, 20)) {
  for (spread in c(0.05, 0.3, 1.5)) {
    estimates <- 0.3 + spread * 0.1 * rnorm(m)
    variances <- 0.01 * (1 + 0.2 * runif(m))
    for (df_complete in c(Inf, 30, 172)) {
      pooled <- MIcombine(as.list(estimates), as.list(variances), df.complete = df_complete)
      cases[[length(cases) + 1]] <- list(
        m = m, df_complete = df_complete, estimates = estimates, variances = variances,
        estimate = unname(coef(pooled)), variance = unname(as.numeric(vcov(pooled))),
        df = unname(pooled$df), missinfo = unname(pooled$missinfo)
      )
    }
  }
}

num <- function(v) if (is.infinite(v)) '"Inf"' else sprintf("%.17g", v)
vec <- function(v) paste0("[", paste(vapply(v, num, ""), collapse = ", "), "]")
entry <- function(c) {
  sprintf(paste0('    {"m": %d, "df_complete": %s, "estimates": %s, "variances": %s, "estimate": %s, ',
                 '"variance": %s, "df": %s, "missinfo": %s}'),
          as.integer(c$m), num(c$df_complete), vec(c$estimates), vec(c$variances), num(c$estimate),
          num(c$variance), num(c$df), num(c$missinfo))
}
writeLines(c("{",
             sprintf('  "meta": {"generated_by": "tests/survey/r/make_mitools_fixture.R", "r_version": "%s", "mitools_version": "%s"},',
                     R.version.string, as.character(packageVersion("mitools"))),
             '  "cases": [', paste(vapply(cases, entry, ""), collapse = ",\n"), "  ]", "}"),
           "tests/survey/fixtures/r_mitools.json")
cat("wrote", length(cases), "cases to tests/survey/fixtures/r_mitools.json\n")
