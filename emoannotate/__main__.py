"""`python -m emoannotate ...`: the command line."""

from .cli import main

main(prog_name="emoannotate")
