"""estate: communities, buildings, units, parking, people, claims, organisation, imports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:51:36.599469
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('communities',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('address', sa.String(length=300), server_default='', nullable=False),
    sa.Column('district', sa.String(length=100), server_default='', nullable=False),
    sa.Column('latitude', sa.Numeric(precision=9, scale=6), nullable=True),
    sa.Column('longitude', sa.Numeric(precision=9, scale=6), nullable=True),
    sa.Column('area_m2', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('hotline', sa.String(length=30), server_default='', nullable=False),
    sa.Column('profile', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_communities')),
    sa.UniqueConstraint('name', name=op.f('uq_communities_name'))
    )
    op.create_table('estate_imports',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=200), server_default='', nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.String(length=10), server_default='queued', nullable=False),
    sa.Column('total_rows', sa.Integer(), server_default='0', nullable=False),
    sa.Column('processed_rows', sa.Integer(), server_default='0', nullable=False),
    sa.Column('errors', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('message', sa.Text(), server_default='', nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'applied', 'rejected', 'failed')", name=op.f('ck_estate_imports_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_estate_imports'))
    )
    op.create_table('positions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_positions')),
    sa.UniqueConstraint('name', name=op.f('uq_positions_name'))
    )
    op.create_table('buildings',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('floors', sa.Integer(), nullable=False),
    sa.Column('entrances', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('entrances > 0 AND entrances <= 50', name=op.f('ck_buildings_entrances')),
    sa.CheckConstraint('floors > 0 AND floors <= 200', name=op.f('ck_buildings_floors')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_buildings_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buildings')),
    sa.UniqueConstraint('community_id', 'name', name=op.f('uq_buildings_community_id_name'))
    )
    op.create_index(op.f('ix_buildings_community_id'), 'buildings', ['community_id'], unique=False)
    op.create_table('community_team',
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('duty', sa.String(length=60), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_community_team_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_community_team_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('community_id', 'user_id', name=op.f('pk_community_team'))
    )
    op.create_index(op.f('ix_community_team_user_id'), 'community_team', ['user_id'], unique=False)
    op.create_table('departments',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('parent_id', sa.BigInteger(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), server_default='team', nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=True),
    sa.Column('path', sa.String(length=400), server_default='/', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('company', 'region', 'project', 'team')", name=op.f('ck_departments_kind')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_departments_community_id_communities')),
    sa.ForeignKeyConstraint(['parent_id'], ['departments.id'], name=op.f('fk_departments_parent_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('parent_id', 'name', name=op.f('uq_departments_parent_id_name'))
    )
    op.create_index('ix_departments_path', 'departments', ['path'], unique=False, postgresql_ops={'path': 'text_pattern_ops'})
    op.create_table('parking_lots',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_parking_lots_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parking_lots')),
    sa.UniqueConstraint('community_id', 'name', name=op.f('uq_parking_lots_community_id_name'))
    )
    op.create_index(op.f('ix_parking_lots_community_id'), 'parking_lots', ['community_id'], unique=False)
    op.create_table('people',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('phone_last4', sa.String(length=4), server_default='', nullable=False),
    sa.Column('id_number_enc', sa.LargeBinary(), nullable=True),
    sa.Column('id_number_hint', sa.String(length=24), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_people_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_people')),
    sa.UniqueConstraint('phone', name=op.f('uq_people_phone')),
    sa.UniqueConstraint('user_id', name=op.f('uq_people_user_id'))
    )
    op.create_index(op.f('ix_people_name'), 'people', ['name'], unique=False)
    op.create_index('ix_people_phone_last4', 'people', ['phone_last4'], unique=False)
    op.create_table('parking_spaces',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('lot_id', sa.BigInteger(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=16), server_default='rented', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='vacant', nullable=False),
    sa.Column('monthly_rent_fen', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('owned', 'rented', 'temporary')", name=op.f('ck_parking_spaces_kind')),
    sa.CheckConstraint("status IN ('vacant', 'occupied', 'reserved', 'disabled')", name=op.f('ck_parking_spaces_status')),
    sa.CheckConstraint('monthly_rent_fen IS NULL OR monthly_rent_fen >= 0', name=op.f('ck_parking_spaces_rent')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_parking_spaces_community_id_communities')),
    sa.ForeignKeyConstraint(['lot_id'], ['parking_lots.id'], name=op.f('fk_parking_spaces_lot_id_parking_lots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parking_spaces')),
    sa.UniqueConstraint('lot_id', 'number', name=op.f('uq_parking_spaces_lot_id_number'))
    )
    op.create_index(op.f('ix_parking_spaces_community_id'), 'parking_spaces', ['community_id'], unique=False)
    op.create_table('staff_profiles',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('department_id', sa.BigInteger(), nullable=True),
    sa.Column('position_id', sa.BigInteger(), nullable=True),
    sa.Column('employee_no', sa.String(length=30), server_default='', nullable=False),
    sa.Column('joined_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_staff_profiles_department_id_departments')),
    sa.ForeignKeyConstraint(['position_id'], ['positions.id'], name=op.f('fk_staff_profiles_position_id_positions')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staff_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_staff_profiles'))
    )
    op.create_index(op.f('ix_staff_profiles_department_id'), 'staff_profiles', ['department_id'], unique=False)
    op.create_table('staff_transfers',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('from_department_id', sa.BigInteger(), nullable=True),
    sa.Column('to_department_id', sa.BigInteger(), nullable=True),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=300), server_default='', nullable=False),
    sa.Column('recorded_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['from_department_id'], ['departments.id'], name=op.f('fk_staff_transfers_from_department_id_departments')),
    sa.ForeignKeyConstraint(['to_department_id'], ['departments.id'], name=op.f('fk_staff_transfers_to_department_id_departments')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staff_transfers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_transfers'))
    )
    op.create_index(op.f('ix_staff_transfers_user_id'), 'staff_transfers', ['user_id'], unique=False)
    op.create_table('units',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('building_id', sa.BigInteger(), nullable=False),
    sa.Column('entrance', sa.Integer(), server_default='1', nullable=False),
    sa.Column('floor', sa.Integer(), nullable=False),
    sa.Column('room_no', sa.String(length=20), nullable=False),
    sa.Column('layout', sa.String(length=20), server_default='', nullable=False),
    sa.Column('building_area', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('inner_area', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('property_type', sa.String(length=16), server_default='residential', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='vacant', nullable=False),
    sa.Column('floor_plan_file_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("property_type IN ('residential', 'shop', 'office', 'storage')", name=op.f('ck_units_property_type')),
    sa.CheckConstraint("status IN ('vacant', 'occupied', 'rented', 'renovating')", name=op.f('ck_units_status')),
    sa.CheckConstraint('building_area > 0', name=op.f('ck_units_building_area')),
    sa.CheckConstraint('inner_area IS NULL OR inner_area > 0', name=op.f('ck_units_inner_area')),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], name=op.f('fk_units_building_id_buildings')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_units_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_units')),
    sa.UniqueConstraint('building_id', 'room_no', name=op.f('uq_units_building_id_room_no'))
    )
    op.create_index('ix_units_listing', 'units', ['community_id', 'building_id', 'room_no', 'id'], unique=False)
    op.create_table('vehicles',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('person_id', sa.BigInteger(), nullable=False),
    sa.Column('plate', sa.String(length=10), nullable=False),
    sa.Column('new_energy', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_vehicles_community_id_communities')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_vehicles_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicles')),
    sa.UniqueConstraint('plate', name=op.f('uq_vehicles_plate'))
    )
    op.create_index(op.f('ix_vehicles_community_id'), 'vehicles', ['community_id'], unique=False)
    op.create_index(op.f('ix_vehicles_person_id'), 'vehicles', ['person_id'], unique=False)
    op.create_table('occupancies',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('unit_id', sa.BigInteger(), nullable=False),
    sa.Column('person_id', sa.BigInteger(), nullable=False),
    sa.Column('relation', sa.String(length=10), nullable=False),
    sa.Column('is_primary', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('move_in_on', sa.Date(), server_default=sa.text('CURRENT_DATE'), nullable=False),
    sa.Column('move_out_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("relation IN ('owner', 'family', 'tenant')", name=op.f('ck_occupancies_relation')),
    sa.CheckConstraint('move_out_on IS NULL OR move_out_on >= move_in_on', name=op.f('ck_occupancies_dates')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_occupancies_community_id_communities')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_occupancies_person_id_people')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_occupancies_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_occupancies'))
    )
    op.create_index(op.f('ix_occupancies_community_id'), 'occupancies', ['community_id'], unique=False)
    op.create_index(op.f('ix_occupancies_person_id'), 'occupancies', ['person_id'], unique=False)
    op.create_index(op.f('ix_occupancies_unit_id'), 'occupancies', ['unit_id'], unique=False)
    op.create_index('uq_occupancies_current', 'occupancies', ['unit_id', 'person_id'], unique=True, postgresql_where=sa.text('move_out_on IS NULL'))
    op.create_index('uq_occupancies_primary', 'occupancies', ['unit_id'], unique=True, postgresql_where=sa.text('is_primary AND move_out_on IS NULL'))
    op.create_table('parking_assignments',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('space_id', sa.BigInteger(), nullable=False),
    sa.Column('unit_id', sa.BigInteger(), nullable=True),
    sa.Column('person_id', sa.BigInteger(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('monthly_rent_fen', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_parking_assignments_dates')),
    sa.CheckConstraint('unit_id IS NOT NULL OR person_id IS NOT NULL', name=op.f('ck_parking_assignments_holder')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_parking_assignments_community_id_communities')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_parking_assignments_person_id_people')),
    sa.ForeignKeyConstraint(['space_id'], ['parking_spaces.id'], name=op.f('fk_parking_assignments_space_id_parking_spaces')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_parking_assignments_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parking_assignments'))
    )
    op.create_index(op.f('ix_parking_assignments_community_id'), 'parking_assignments', ['community_id'], unique=False)
    op.create_index(op.f('ix_parking_assignments_person_id'), 'parking_assignments', ['person_id'], unique=False)
    op.create_index(op.f('ix_parking_assignments_space_id'), 'parking_assignments', ['space_id'], unique=False)
    op.create_index(op.f('ix_parking_assignments_unit_id'), 'parking_assignments', ['unit_id'], unique=False)
    op.create_table('unit_claims',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('unit_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('relation', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('reason', sa.String(length=300), server_default='', nullable=False),
    sa.Column('reviewed_by', sa.BigInteger(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("relation IN ('owner', 'family', 'tenant')", name=op.f('ck_unit_claims_relation')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f('ck_unit_claims_status')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_unit_claims_community_id_communities')),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_unit_claims_unit_id_units')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_unit_claims_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_claims'))
    )
    op.create_index(op.f('ix_unit_claims_community_id'), 'unit_claims', ['community_id'], unique=False)
    op.create_index(op.f('ix_unit_claims_user_id'), 'unit_claims', ['user_id'], unique=False)
    op.create_index('uq_unit_claims_pending', 'unit_claims', ['user_id', 'unit_id'], unique=True, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('unit_status_changes',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('unit_id', sa.BigInteger(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), server_default='', nullable=False),
    sa.Column('changed_by', sa.BigInteger(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_unit_status_changes_unit_id_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_status_changes'))
    )
    op.create_index(op.f('ix_unit_status_changes_unit_id'), 'unit_status_changes', ['unit_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_unit_status_changes_unit_id'), table_name='unit_status_changes')
    op.drop_table('unit_status_changes')
    op.drop_index('uq_unit_claims_pending', table_name='unit_claims', postgresql_where=sa.text("status = 'pending'"))
    op.drop_index(op.f('ix_unit_claims_user_id'), table_name='unit_claims')
    op.drop_index(op.f('ix_unit_claims_community_id'), table_name='unit_claims')
    op.drop_table('unit_claims')
    op.drop_index(op.f('ix_parking_assignments_unit_id'), table_name='parking_assignments')
    op.drop_index(op.f('ix_parking_assignments_space_id'), table_name='parking_assignments')
    op.drop_index(op.f('ix_parking_assignments_person_id'), table_name='parking_assignments')
    op.drop_index(op.f('ix_parking_assignments_community_id'), table_name='parking_assignments')
    op.drop_table('parking_assignments')
    op.drop_index('uq_occupancies_primary', table_name='occupancies', postgresql_where=sa.text('is_primary AND move_out_on IS NULL'))
    op.drop_index('uq_occupancies_current', table_name='occupancies', postgresql_where=sa.text('move_out_on IS NULL'))
    op.drop_index(op.f('ix_occupancies_unit_id'), table_name='occupancies')
    op.drop_index(op.f('ix_occupancies_person_id'), table_name='occupancies')
    op.drop_index(op.f('ix_occupancies_community_id'), table_name='occupancies')
    op.drop_table('occupancies')
    op.drop_index(op.f('ix_vehicles_person_id'), table_name='vehicles')
    op.drop_index(op.f('ix_vehicles_community_id'), table_name='vehicles')
    op.drop_table('vehicles')
    op.drop_index('ix_units_listing', table_name='units')
    op.drop_table('units')
    op.drop_index(op.f('ix_staff_transfers_user_id'), table_name='staff_transfers')
    op.drop_table('staff_transfers')
    op.drop_index(op.f('ix_staff_profiles_department_id'), table_name='staff_profiles')
    op.drop_table('staff_profiles')
    op.drop_index(op.f('ix_parking_spaces_community_id'), table_name='parking_spaces')
    op.drop_table('parking_spaces')
    op.drop_index('ix_people_phone_last4', table_name='people')
    op.drop_index(op.f('ix_people_name'), table_name='people')
    op.drop_table('people')
    op.drop_index(op.f('ix_parking_lots_community_id'), table_name='parking_lots')
    op.drop_table('parking_lots')
    op.drop_index('ix_departments_path', table_name='departments', postgresql_ops={'path': 'text_pattern_ops'})
    op.drop_table('departments')
    op.drop_index(op.f('ix_community_team_user_id'), table_name='community_team')
    op.drop_table('community_team')
    op.drop_index(op.f('ix_buildings_community_id'), table_name='buildings')
    op.drop_table('buildings')
    op.drop_table('positions')
    op.drop_table('estate_imports')
    op.drop_table('communities')
