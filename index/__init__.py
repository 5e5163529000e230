"""Where vectors and their metadata live: the SQL catalog (`catalog/`) and the vector indexes (`vectors/`)."""
