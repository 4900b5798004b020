"""shared registry: tenants, domains, modules, operators, audit, outbox

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 11:09:47.050368
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operator_audit_log',
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('tenant_slug', sa.String(length=40), server_default='', nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('object_type', sa.String(length=60), server_default='', nullable=False),
    sa.Column('object_id', sa.String(length=100), server_default='', nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('ip', postgresql.INET(), nullable=True),
    sa.Column('user_agent', sa.String(length=300), server_default='', nullable=False),
    sa.Column('request_id', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_audit_log')),
    schema='shared'
    )
    op.create_index(op.f('ix_operator_audit_log_action'), 'operator_audit_log', ['action'], unique=False, schema='shared')
    op.create_index(op.f('ix_operator_audit_log_actor_id'), 'operator_audit_log', ['actor_id'], unique=False, schema='shared')
    op.create_index(op.f('ix_operator_audit_log_created_at'), 'operator_audit_log', ['created_at'], unique=False, schema='shared')
    op.create_index(op.f('ix_operator_audit_log_tenant_slug'), 'operator_audit_log', ['tenant_slug'], unique=False, schema='shared')
    op.create_table('operators',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('email', name=op.f('uq_operators_email')),
    schema='shared'
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('tenant_slug', sa.String(length=40), nullable=False),
    sa.Column('job', sa.String(length=100), nullable=False),
    sa.Column('args', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('dedup_key', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_outbox_dedup_key')),
    schema='shared'
    )
    op.create_index('ix_outbox_pending', 'outbox', ['created_at'], unique=False, schema='shared', postgresql_where=sa.text('done_at IS NULL'))
    op.create_index(op.f('ix_outbox_tenant_slug'), 'outbox', ['tenant_slug'], unique=False, schema='shared')
    op.create_table('tenants',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('slug', sa.String(length=40), nullable=False),
    sa.Column('schema_name', sa.String(length=42), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), server_default='', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('cluster', sa.String(length=40), server_default='default', nullable=False),
    sa.Column('app_name', sa.String(length=100), server_default='', nullable=False),
    sa.Column('logo_url', sa.String(length=500), server_default='', nullable=False),
    sa.Column('primary_color', sa.String(length=9), server_default='#1677ff', nullable=False),
    sa.Column('accent_color', sa.String(length=9), server_default='#fa8c16', nullable=False),
    sa.Column('time_zone', sa.String(length=64), server_default='Asia/Shanghai', nullable=False),
    sa.Column('locale', sa.String(length=10), server_default='zh-CN', nullable=False),
    sa.Column('schema_revision', sa.String(length=32), nullable=True),
    sa.Column('migration_status', sa.String(length=16), server_default='ok', nullable=False),
    sa.Column('migration_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("slug ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'", name=op.f('ck_tenants_slug')),
    sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f('ck_tenants_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants')),
    sa.UniqueConstraint('schema_name', name=op.f('uq_tenants_schema_name')),
    sa.UniqueConstraint('slug', name=op.f('uq_tenants_slug')),
    schema='shared'
    )
    op.create_table('domains',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('hostname', sa.String(length=253), nullable=False),
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.Column('is_primary', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['shared.tenants.id'], name=op.f('fk_domains_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domains')),
    sa.UniqueConstraint('hostname', name=op.f('uq_domains_hostname')),
    schema='shared'
    )
    op.create_index(op.f('ix_domains_tenant_id'), 'domains', ['tenant_id'], unique=False, schema='shared')
    op.create_index('uq_domains_primary', 'domains', ['tenant_id'], unique=True, schema='shared', postgresql_where=sa.text('is_primary'))
    op.create_table('operator_refresh_tokens',
    sa.Column('subject_id', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('family', sa.String(length=32), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ip', postgresql.INET(), nullable=True),
    sa.Column('user_agent', sa.String(length=300), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['shared.operators.id'], name=op.f('fk_operator_refresh_tokens_subject_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_operator_refresh_tokens_token_hash')),
    schema='shared'
    )
    op.create_index(op.f('ix_operator_refresh_tokens_family'), 'operator_refresh_tokens', ['family'], unique=False, schema='shared')
    op.create_index(op.f('ix_operator_refresh_tokens_subject_id'), 'operator_refresh_tokens', ['subject_id'], unique=False, schema='shared')
    op.create_table('tenant_modules',
    sa.Column('tenant_id', sa.BigInteger(), nullable=False),
    sa.Column('module_key', sa.String(length=40), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('changed_by', sa.String(length=200), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['shared.tenants.id'], name=op.f('fk_tenant_modules_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'module_key', name=op.f('pk_tenant_modules')),
    schema='shared'
    )


def downgrade() -> None:
    op.drop_table('tenant_modules', schema='shared')
    op.drop_index(op.f('ix_operator_refresh_tokens_subject_id'), table_name='operator_refresh_tokens', schema='shared')
    op.drop_index(op.f('ix_operator_refresh_tokens_family'), table_name='operator_refresh_tokens', schema='shared')
    op.drop_table('operator_refresh_tokens', schema='shared')
    op.drop_index('uq_domains_primary', table_name='domains', schema='shared', postgresql_where=sa.text('is_primary'))
    op.drop_index(op.f('ix_domains_tenant_id'), table_name='domains', schema='shared')
    op.drop_table('domains', schema='shared')
    op.drop_table('tenants', schema='shared')
    op.drop_index(op.f('ix_outbox_tenant_slug'), table_name='outbox', schema='shared')
    op.drop_index('ix_outbox_pending', table_name='outbox', schema='shared', postgresql_where=sa.text('done_at IS NULL'))
    op.drop_table('outbox', schema='shared')
    op.drop_table('operators', schema='shared')
    op.drop_index(op.f('ix_operator_audit_log_tenant_slug'), table_name='operator_audit_log', schema='shared')
    op.drop_index(op.f('ix_operator_audit_log_created_at'), table_name='operator_audit_log', schema='shared')
    op.drop_index(op.f('ix_operator_audit_log_actor_id'), table_name='operator_audit_log', schema='shared')
    op.drop_index(op.f('ix_operator_audit_log_action'), table_name='operator_audit_log', schema='shared')
    op.drop_table('operator_audit_log', schema='shared')
