"""`python -m loctocat` runs the loctocat command line."""

from loctocat.cli import main

raise SystemExit(main())
