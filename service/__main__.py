"""`python -m service ...` is the `notesqa` command."""
from service.cli import app

app(prog_name="notesqa")
