"""Case reports: dictionary, logic language, forms, cases, sites, audit."""
