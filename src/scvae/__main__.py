"""``python -m scvae`` runs the command line."""

from scvae.cli import main

raise SystemExit(main())
