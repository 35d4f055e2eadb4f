-- The tenant views name their tenant (issue #18), Citus layout: the part runs in one
-- transaction, and Citus then needs one connection per worker for it. The views get
-- security_invoker back after the common part (store/layout.rs, CITUS_VIEWS_SQL).
SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
