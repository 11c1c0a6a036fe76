"""One module per CLI command group; each function is a command."""
