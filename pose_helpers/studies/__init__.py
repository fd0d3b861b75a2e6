"""One module per study: the logic behind a chapter's tables, figures and verdicts."""
