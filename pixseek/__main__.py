"""`python -m pixseek` is the `pixseek` command."""

from pixseek.cli import main

main()
