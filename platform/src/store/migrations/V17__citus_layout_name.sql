-- Issue #18: the Citus layout is recorded like the other two (store/layout.rs), so a database
-- never switches layouts under existing data. Only the allowed names change.
ALTER TABLE storage_layout DROP CONSTRAINT storage_layout_backend_check;
ALTER TABLE storage_layout ADD CONSTRAINT storage_layout_backend_check
    CHECK (backend IN ('timescale', 'plain', 'citus'));
