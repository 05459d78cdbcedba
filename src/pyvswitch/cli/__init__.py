"""Command-line shells: argument parsing and wiring only."""
