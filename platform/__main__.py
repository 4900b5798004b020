"""``python -m wuye`` -> the CLI."""

from wuye.cli import main

raise SystemExit(main())
