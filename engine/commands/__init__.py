"""One module per group of commands; each command parses, calls the engine and prints."""
