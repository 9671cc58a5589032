"""Recording files and their metadata: integrity hashes, access checks, the access log.

- ``recordings.model``: what a finished recording is (``RecordedParticipant``,
  ``RecordedFile``) and the ``RecordingSink`` interface ``media/`` reports to. No database
  here, so ``media/`` can import it cheaply.
- ``recordings.store``: the sink that writes ``cases.models.Recording`` /
  ``RecordingFile`` rows, integrity checks, audited reads.
- ``recordings.errors``: ``RecordingsError`` and its tree.

Nothing is imported here on purpose: ``import recordings.model`` must not pull in
SQLAlchemy.
"""
