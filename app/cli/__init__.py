"""Operator commands on the Flask CLI, one module per job: setup, gallery, query, train, evaluate.

Training and evaluation import TensorFlow when their modules load; a serving install (requirements/
serving.txt, the slim Docker image) has none, so there they are stand-ins that name what to install,
and every other command works.
"""

from __future__ import annotations

import click
from flask import Flask

from app.cli.common import build_requirements_message, is_build_only
from app.cli.gallery import gallery_cli
from app.cli.gallery_artifacts import ARTIFACT_COMMANDS
from app.cli.gallery_download import gallery_download
from app.cli.gallery_versions import VERSION_COMMANDS
from app.cli.keys import keys_cli
from app.cli.query import check_command, match_command, verify_command
from app.cli.setup import data_cli, weights_cli

BUILD_COMMANDS = ("train", "evaluate", "evaluate-pairs", "evaluate-check")


def init_app(app: Flask) -> None:
    """Register the CLI commands."""
    for command in (gallery_download, *VERSION_COMMANDS, *ARTIFACT_COMMANDS):
        gallery_cli.add_command(command)
    for command in (weights_cli, data_cli, gallery_cli, match_command, verify_command, check_command, keys_cli,
                    *build_commands()):
        app.cli.add_command(command)


def build_commands() -> list[click.Command]:
    """train and evaluate*, or where TensorFlow (or another build-only package) is missing, their stand-ins."""
    try:
        from app.cli.evaluate import evaluate_check_command, evaluate_command, evaluate_pairs_command
        from app.cli.train import train_command
    except ModuleNotFoundError as exc:
        if not is_build_only(exc):
            raise
        return [unavailable_command(name, exc.name) for name in BUILD_COMMANDS]
    return [train_command, evaluate_command, evaluate_pairs_command, evaluate_check_command]


def unavailable_command(name: str, module: str | None) -> click.Command:
    """A command that takes any arguments and fails with what to install."""
    message = build_requirements_message(f"flask {name}", module)

    @click.command(name, help=f"Not available here: {message}.",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def command() -> None:
        raise click.ClickException(message)
    return command
