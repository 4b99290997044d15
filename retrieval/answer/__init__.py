"""The answer component: question analysis -> candidates -> features -> fitted scorer -> abstention -> rendering.

`question.analyse_question` reads the question once; `reader.AnswerReader` reranks the search hits, cuts
the paragraphs read into units, generates candidate spans (`candidates`), computes their features
(`features`) and scores them with the fitted model (`model`, a file `notesqa train answers` writes);
`render` turns the reading into the cited answer, or an abstention below the calibrated threshold.
"""
