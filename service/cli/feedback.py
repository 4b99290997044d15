"""`notesqa feedback export`: staff feedback as evaluation questions (see service/domain/feedback.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import EXIT_BAD_INPUT, SummaryGroup, fail, make_settings
from service.domain.feedback import export_items, feedback_path, store_for, write_jsonl

feedback_app = typer.Typer(cls=SummaryGroup, no_args_is_help=True, rich_markup_mode=None,
                           help="Answer feedback collected by the chat widget.")


@feedback_app.command("export")
def export(
        out: Annotated[Path | None, typer.Option(
            "--out", dir_okay=False, help="Write the JSONL here instead of printing it.")] = None,
        feedback: Annotated[Path | None, typer.Option(
            "--feedback", dir_okay=False,
            help="Feedback file [env NOTESQA_FEEDBACK_PATH; default: feedback.jsonl next to the index].")] = None,
        index: Annotated[Path | None, typer.Option(
            "--index", file_okay=False, help="Index folder whose feedback to export [env NOTESQA_INDEX_DIR].")] = None,
        rating: Annotated[str | None, typer.Option(
            "--rating", help="Only 'up' or only 'down' feedback (default: both).")] = None) -> None:
    """Export feedback as evaluation questions (evaluation dataset JSONL, type "feedback").

    Thumbs-up answers become gold items (the answer's direct fact, cited quotes and documents);
    thumbs-up abstentions become unanswerable items; thumbs-down ones are exported with empty gold
    and needs_review=true, for a reviewer to complete.
    """
    if rating not in (None, "up", "down"):
        fail("--rating must be 'up' or 'down'", EXIT_BAD_INPUT)
    path = feedback or feedback_path(make_settings(index_dir=index))
    if not path.is_file():
        fail(f"no feedback file at {path}")
    records = list(store_for(path).read())
    items = export_items(records, rating=rating)
    if out is None:
        for item in items:
            typer.echo(json.dumps(item, ensure_ascii=False))
        return
    count = write_jsonl(items, out)
    typer.echo(f"Exported {count} question(s) from {len(records)} feedback record(s) in {path} to {out}", err=True)
