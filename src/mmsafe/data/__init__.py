"""Loaders: files of cases and predictions, and the suites the project ships."""
