"""Stage 3 of the data flow: load a snapshot, search it, compose a cited answer.

`pipeline.NotesQA` is the facade; `search.HybridSearcher` fuses dense and
keyword search; `answer/` reads the reranked paragraphs into a cited, calibrated answer.
"""
