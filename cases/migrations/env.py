"""Alembic environment: runs on the connection ``cases.migrate`` passes in."""

from alembic import context

from cases.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `hotline migrate` (cases.migrate), not bare alembic")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
