"""The call center: composition root (app factory, CLI, settings, database) and domains."""
