"""Everything that enters: one typed reader of core-data-set CSV files (`reader`), the registry's
own names and codes turned into the core data set by a mapping file (`mapping`), and the
country names and units they read. Plain Python: no Django import, so the federated command,
the row import, the web page and the API share it."""
