# lavaan reference values for the engine's CFA (pipeline/survey/cfa.py), on the bundled survey.
#
# Rerun from the project root (needs r-cran-lavaan):
#
#   Rscript tests/survey/r/make_cfa_fixture.R
#
# Reads tests/survey/fixtures/cfa_items.csv (complete cases of the 26 shared 7S items of the bundled
# synthetic survey, reverse items flipped, and each respondent's instrument as `group`) and
# cfa_models.txt (the three structures in lavaan syntax, written from measurement.structures), and
# writes tests/survey/fixtures/lavaan_cfa.json: chi-squared, df, CFI, TLI and RMSEA of the three
# single-group structures and of the configural, metric and scalar two-group models, and each group's
# admissibility (smallest latent covariance eigenvalue, smallest residual variance, lavaan's post.check).
#
# Written against R 4.2.2, lavaan 0.6-14 (the Debian bookworm package).

suppressPackageStartupMessages(library(lavaan))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
root <- if (length(script)) normalizePath(file.path(dirname(script), "..")) else "tests/survey"
fx <- file.path(root, "fixtures")

items <- read.csv(file.path(fx, "cfa_items.csv"), stringsAsFactors = FALSE)
lines <- readLines(file.path(fx, "cfa_models.txt"))
models <- setNames(sub("^[^\t]*\t", "", lines), sub("\t.*$", "", lines))

measures <- c("chisq", "df", "cfi", "tli", "rmsea")
# Admissibility of each group's solution: the smallest eigenvalue of the latent covariance matrix and the
# smallest residual variance (lavaan's own check, lavInspect(fit, "post.check"), is false when either is
# negative; lavaan warns and still reports the fit as converged).
admissibility <- function(fit) {
  lv <- lavInspect(fit, "cov.lv")
  theta <- lavInspect(fit, "theta")
  if (!is.list(lv) || is.matrix(lv)) {
    lv <- list(all = lv)
    theta <- list(all = theta)
  }
  parts <- vapply(names(lv), function(g) {
    sprintf('{"group": "%s", "smallest_latent_eigenvalue": %.17g, "smallest_residual_variance": %.17g}', g,
            min(eigen(lv[[g]], symmetric = TRUE, only.values = TRUE)$values), min(diag(theta[[g]])))
  }, "")
  paste0('"admissibility": [', paste(parts, collapse = ", "), '], "post_check": ',
         tolower(suppressWarnings(lavInspect(fit, "post.check"))))
}
entry <- function(fit, name, level) {
  fm <- fitMeasures(fit, measures)
  paste0('    {"model": "', name, '", "level": "', level, '", ',
         paste(sprintf('"%s": %.17g', measures, fm), collapse = ", "),
         ', "converged": ', tolower(lavInspect(fit, "converged")), ', ', admissibility(fit), '}')
}

out <- character()
for (name in names(models)) {
  fit <- suppressWarnings(cfa(models[[name]], data = items, estimator = "ML"))
  out <- c(out, entry(fit, name, "single group"))
}
equal <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"))
for (level in names(equal)) {
  fit <- suppressWarnings(cfa(models[["seven factors"]], data = items, group = "group",
                              group.equal = equal[[level]], estimator = "ML"))
  out <- c(out, entry(fit, "seven factors", level))
}
md5 <- unname(tools::md5sum(file.path(fx, "cfa_items.csv")))
writeLines(c("{", sprintf('  "meta": {"generated_by": "tests/survey/r/make_cfa_fixture.R", "r_version": "%s", "lavaan_version": "%s", "csv_md5": "%s"},',
                          R.version.string, as.character(packageVersion("lavaan")), md5),
             '  "fits": [', paste(out, collapse = ",\n"), "  ]", "}"),
           file.path(fx, "lavaan_cfa.json"))
cat("wrote", length(out), "fits to", file.path(fx, "lavaan_cfa.json"), "\n")
