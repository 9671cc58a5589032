"""Errors raised by ``recordings/``.

The tree::

    RecordingsError             root of everything recordings/ raises on purpose
    ├── RecordingNotFound       no recording with that id in the record
    ├── RecordingAccessDenied   the viewer may not read that recording (the refusal is
    │                           audited too)
    ├── RecordingConflict       a finished recording disagrees with what is already
    │                           recorded for it (another room, another hash for a file)
    └── RecordingStoreError     the database refused or could not be reached (wraps
                                SQLAlchemy's error)

Only the web layer turns these into HTTP statuses or signaling ``error`` messages.
"""

from __future__ import annotations


class RecordingsError(Exception):
    """Root of the errors raised by ``recordings/``."""


class RecordingNotFound(RecordingsError):
    """No recording with that id."""


class RecordingAccessDenied(RecordingsError):
    """The viewer may not read that recording."""


class RecordingConflict(RecordingsError):
    """What the sink was given contradicts what the record already holds."""


class RecordingStoreError(RecordingsError):
    """The database could not store or read recording metadata."""
