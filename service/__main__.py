"""`python -m service ...` is the `notesqa` command."""
from service.cli.main import app

app(prog_name="notesqa")
