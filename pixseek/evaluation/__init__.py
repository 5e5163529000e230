"""`pixseek eval`: retrieval and localisation quality of a data dir, measured with query files."""
