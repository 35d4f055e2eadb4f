-- Issue #13, OEE fast enough for a month of shifts: running totals on the per-minute counts.
-- `cum_produced`/`cum_rejected` are a machine's parts counted up to and including the minute,
-- so the parts of any window (s, e] are the total at its last minute <= e less the total at
-- its last minute <= s: two index probes per window instead of a sum over every minute in it.
-- Kept by the state builder in the transaction that writes the counts (`store/mes.rs`), and
-- still right after a recomputation, which only cuts counts from a minute on.
ALTER TABLE public.mes_counts
    ADD COLUMN cum_produced bigint NOT NULL DEFAULT 0,
    ADD COLUMN cum_rejected bigint NOT NULL DEFAULT 0;

UPDATE public.mes_counts c
SET cum_produced = x.cp, cum_rejected = x.cr
FROM (
    SELECT tenant_id, machine_id, minute_end,
           sum(produced) OVER w AS cp, sum(rejected) OVER w AS cr
    FROM public.mes_counts
    WINDOW w AS (PARTITION BY tenant_id, machine_id ORDER BY minute_end)
) x
WHERE c.tenant_id = x.tenant_id AND c.machine_id = x.machine_id AND c.minute_end = x.minute_end;
