"""fibrecert's vendor documentation (Markdown), installed with the package so that reports can link to
the profile rule a requirement rests on. Nothing to import."""
