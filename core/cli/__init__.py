"""The command line, python -m core: one function per command."""
