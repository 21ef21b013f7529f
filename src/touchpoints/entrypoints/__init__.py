"""Entrypoints: the web app, the Bitrix24 handlers, the digest job and the CLI."""
