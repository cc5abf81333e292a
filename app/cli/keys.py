"""`flask keys create|list|revoke`: API keys, printed once at creation, stored only as hashes."""

from __future__ import annotations

import json
import secrets

import click
from flask import current_app
from flask.cli import AppGroup

from app.http.auth import NAME, PREFIX, KeyStore, hash_key, store

keys_cli = AppGroup("keys", help="API keys for /api/v1/* (stored as SHA-256 hashes in instance/api_keys.json).")


def key_store() -> KeyStore:
    """The app's key store."""
    return store()


@keys_cli.command("create")
@click.argument("name")
@click.option("--secret", is_flag=True, help="Store nothing: print the key, and the API_KEYS entry (its hash) to "
                                             "give every instance of a fleet as LOOKSLIKE_API_KEYS.")
def create_command(name: str, secret: bool) -> None:
    """Make a key for NAME and print it (once: only its hash is kept). Keys are then required."""
    if secret:
        if not NAME.fullmatch(name):
            raise click.ClickException("a name is 1-64 letters, digits, '.', '_' or '-'")
        key = PREFIX + secrets.token_urlsafe(32)
        click.echo(key)
        entries = {**current_app.config["API_KEYS"], name: hash_key(key)}
        click.echo(f"API key '{name}': give every instance LOOKSLIKE_API_KEYS='{json.dumps(entries)}' (hashes only; "
                   "the key is shown only now).", err=True)
        return
    try:
        key = key_store().create(name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(key)
    click.echo(f"API key '{name}' created; it is shown only now. Send it as X-API-Key or "
               "Authorization: Bearer. While any key exists, /api/v1/* requires one.", err=True)


@keys_cli.command("list")
def list_command() -> None:
    """Names and creation times of the keys (never the keys themselves)."""
    keys = key_store().load()
    if not keys:
        click.echo("no API keys: the API is open" + (" (but REQUIRE_API_KEY is set: every call gets 401)"
                                                      if current_app.config["REQUIRE_API_KEY"] else ""))
        return
    for name, entry in sorted(keys.items()):
        click.echo(f"{name}\tcreated {entry.get('created', '?')}\tsha256 {str(entry.get('hash', ''))[:8]}...")


@keys_cli.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Delete NAME's key; calls with it get 401 from then on (running workers re-read the file)."""
    try:
        revoked = key_store().revoke(name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not revoked:
        raise click.ClickException(f"no API key named '{name}'")
    click.echo(f"API key '{name}' revoked.")
    if not key_store().load() and not current_app.config["REQUIRE_API_KEY"]:
        click.echo("That was the last key: /api/v1/* is open to everyone again. Set REQUIRE_API_KEY "
                   "to keep it closed.", err=True)
