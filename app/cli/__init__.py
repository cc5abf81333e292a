"""Operator commands on the Flask CLI, one module per job: setup, gallery, query, train, evaluate."""

from __future__ import annotations

from flask import Flask

from app.cli.evaluate import evaluate_check_command, evaluate_command, evaluate_pairs_command
from app.cli.gallery import gallery_cli
from app.cli.gallery_artifacts import ARTIFACT_COMMANDS
from app.cli.gallery_download import gallery_download
from app.cli.gallery_versions import VERSION_COMMANDS
from app.cli.keys import keys_cli
from app.cli.query import check_command, match_command, verify_command
from app.cli.setup import data_cli, weights_cli
from app.cli.train import train_command


def init_app(app: Flask) -> None:
    """Register the CLI commands."""
    for command in (gallery_download, *VERSION_COMMANDS, *ARTIFACT_COMMANDS):
        gallery_cli.add_command(command)
    for command in (weights_cli, data_cli, gallery_cli, match_command, verify_command, check_command,
                    train_command, evaluate_command, evaluate_pairs_command, evaluate_check_command, keys_cli):
        app.cli.add_command(command)
