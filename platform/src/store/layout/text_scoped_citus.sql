-- Text ingest confined to a device token's site (issue #11), Citus layout: nothing to add,
-- text_citus.sql already creates the confined ingest_commit_text.
SELECT 1;
