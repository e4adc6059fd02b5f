"""The contribution ledger: chain events indexed into SQLite, and the views the CLI and the web
page show (per peer, per round)."""
