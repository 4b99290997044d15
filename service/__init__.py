"""Stage 3 of the data flow: the HTTP API (`app.create_app`), the `notesqa` CLI (`cli.main.app`) and the pages.

`app.py` wires middleware and `routes/` (one module per resource); routes get what they need from
`deps.py` (the caller, authorisation, the collection's QA service); `domain/` holds what the service keeps
(QA services over loaded indexes, collections, jobs, keys, audit, feedback); `cli/` the commands; `web/`
the chat page, widget and viewer. See docs/architecture.md for one request's path.
"""
