"""Stage 2 of the data flow: source files in, an index snapshot out.

load (loading) -> clean and segment (segmentation) -> tokenize (tokenization)
-> embed (embedders) -> write a snapshot (snapshot).  `builder.build_index` runs
the whole chain.
"""
