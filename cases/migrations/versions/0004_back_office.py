"""back office: ticket lifecycle, dispositions, surveys, callback numbers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:15:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('ack_due_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('result_note', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('agent_user_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(
            'fk_tickets_agent_user_id', 'users', ['agent_user_id'], ['id'], ondelete='SET NULL'
        )
        batch.create_index('ix_tickets_agent_user_id', ['agent_user_id'])
    with op.batch_alter_table('tickets') as batch:
        batch.alter_column('result_note', server_default=None)
    op.create_table('dispositions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('agent_user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=48), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('callback_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('agency', sa.String(length=100), nullable=True),
    sa.Column('warnings', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_user_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id')
    )
    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id')
    )
    op.create_table('callback_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('masked', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id')
    )
    op.create_index('ix_callback_numbers_expires_at', 'callback_numbers', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_callback_numbers_expires_at', table_name='callback_numbers')
    op.drop_table('callback_numbers')
    op.drop_table('surveys')
    op.drop_table('dispositions')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_index('ix_tickets_agent_user_id')
        batch.drop_constraint('fk_tickets_agent_user_id', type_='foreignkey')
        batch.drop_column('agent_user_id')
        batch.drop_column('result_note')
        batch.drop_column('resolved_at')
        batch.drop_column('ack_due_at')
