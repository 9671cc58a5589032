"""a recording's session is a plain id (no foreign key)

A call's recording is written when its room closes, at the end of the call, which is
when the session's own row is being written too (by the batched outcome writer): the
recording cannot wait for it, so, like a ticket's, its session is not a foreign key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 16:20:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# 0001 left the constraint unnamed; name it the way each database did.
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _fk_name() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "recordings_session_id_fkey"
    return "fk_recordings_session_id_sessions"


def upgrade() -> None:
    with op.batch_alter_table("recordings", naming_convention=_NAMING) as batch:
        batch.drop_constraint(_fk_name(), type_="foreignkey")
        batch.create_index("ix_recordings_session_id", ["session_id"])


def downgrade() -> None:
    # A recording whose session was never stored cannot keep the link under the key.
    op.execute(
        "UPDATE recordings SET session_id = NULL WHERE session_id IS NOT NULL"
        " AND session_id NOT IN (SELECT id FROM sessions)"
    )
    with op.batch_alter_table("recordings", naming_convention=_NAMING) as batch:
        batch.drop_index("ix_recordings_session_id")
        batch.create_foreign_key(_fk_name(), "sessions", ["session_id"], ["id"])
