"""`python -m clinextract ...` is the `clinextract` command."""

from .cli import main

if __name__ == "__main__":
    main()
