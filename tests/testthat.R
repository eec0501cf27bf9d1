# Runs the CASSIA testthat suite (R CMD check and scripts/test.sh). Tests that need the Python
# engine find it through RETICULATE_PYTHON / options(cassia.python); under CI=true they fail
# instead of skipping when it is missing.
library(testthat)
library(CASSIA)

test_check("CASSIA")
