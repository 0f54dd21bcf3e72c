"""The training corpora: building them from music21's bundled collections, labelling
their chords, and describing any folder of MIDI files.

* :mod:`midigan.corpus.build` — ``midigan corpus build``: Essen, O'Neill's, Ryan's and
  the Bach chorales to ``corpora/<style>/<id>.mid`` plus ``manifest.jsonl``.
* :mod:`midigan.corpus.manifest` — the one reader of a corpus folder (manifest or plain MIDI
  folder) and the hash split rule.
* :mod:`midigan.corpus.families` — ``midigan corpus resplit``: variants of a tune share a split.
* :mod:`midigan.music.harmony` — the folk chord estimator and chorale harmony labels.
* :mod:`midigan.corpus.stats` — ``midigan corpus stats``: counts and distributions.

Nothing here imports torch; music21 is imported only by the build.
"""
