"""Stage 4 of the data flow: the HTTP API (`api.create_app`) and the `notesqa` CLI (`cli.app`).

Both go through `qa_service.QAService`, which holds the loaded index, enforces the input
limits from `settings.Settings` and serialises calls into the embedder.
"""
