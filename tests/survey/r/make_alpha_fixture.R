# Reference values for Cronbach's alpha (pipeline/survey/reliability.py), computed in R.
#
# Rerun from the project root:
#
#   Rscript tests/survey/r/make_alpha_fixture.R
#
# Reads tests/survey/fixtures/cfa_items.csv (complete cases of the 26 shared 7S items of the bundled
# survey) and the seven-factor structure in cfa_models.txt; writes tests/survey/fixtures/r_alpha.json:
# alpha of each scale, all respondents and each instrument, by the covariance-matrix form
# k / (k - 1) * (1 - tr(C) / sum(C)) (psych::alpha's raw_alpha; psych is not among the Debian packages
# installed here), and for one scale with answers blanked at random, over its complete cases.

items <- read.csv("tests/survey/fixtures/cfa_items.csv", stringsAsFactors = FALSE)
lines <- readLines("tests/survey/fixtures/cfa_models.txt")
seven <- sub("^[^\t]*\t", "", lines[startsWith(lines, "seven factors\t")])
scales <- lapply(strsplit(strsplit(seven, ";")[[1]], "=~"), function(x) trimws(strsplit(x[2], "\\+")[[1]]))
names(scales) <- vapply(strsplit(strsplit(seven, ";")[[1]], "=~"), function(x) trimws(x[1]), "")

alpha <- function(x) {
  x <- x[complete.cases(x), , drop = FALSE]
  k <- ncol(x)
  C <- cov(x)
  c(alpha = k / (k - 1) * (1 - sum(diag(C)) / sum(C)), n = nrow(x))
}
num <- function(v) sprintf("%.17g", v)
out <- character()
for (scale in names(scales)) {
  for (group in c("all", "coordinator", "partner")) {
    rows <- if (group == "all") rep(TRUE, nrow(items)) else items$group == group
    a <- alpha(items[rows, scales[[scale]], drop = FALSE])
    out <- c(out, sprintf('    {"scale": "%s", "group": "%s", "items": [%s], "blanked": [], "alpha": %s, "n_complete": %d}',
                          scale, group, paste0('"', scales[[scale]], '"', collapse = ", "), num(a[["alpha"]]),
                          as.integer(a[["n"]])))
  }
}
# Missing answers: every fifth row of the first item and every seventh of the second blanked.
first <- names(scales)[1]
x <- items[, scales[[first]]]
x[seq(1, nrow(x), by = 5), 1] <- NA
x[seq(2, nrow(x), by = 7), 2] <- NA
a <- alpha(x)
out <- c(out, sprintf('    {"scale": "%s", "group": "all", "items": [%s], "blanked": [5, 7], "alpha": %s, "n_complete": %d}',
                      first, paste0('"', scales[[first]], '"', collapse = ", "), num(a[["alpha"]]),
                      as.integer(a[["n"]])))
md5 <- unname(tools::md5sum("tests/survey/fixtures/cfa_items.csv"))
writeLines(c("{", sprintf('  "meta": {"generated_by": "tests/survey/r/make_alpha_fixture.R", "r_version": "%s", "csv_md5": "%s"},',
                          R.version.string, md5),
             '  "cases": [', paste(out, collapse = ",\n"), "  ]", "}"),
           "tests/survey/fixtures/r_alpha.json")
cat("wrote", length(out), "cases\n")
