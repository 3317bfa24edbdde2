"""`python -m importer`: the same command as `kelviq-import`."""

from .cli import main

main()
