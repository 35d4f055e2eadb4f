-- Which storage layout (TimescaleDB or native partitions) this database uses. The layout
-- itself is created by the platform at start-up (see store/layout/), because it depends on
-- whether the timescaledb extension is present; it is recorded here so a database never
-- switches layouts under existing data.
CREATE TABLE storage_layout (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    backend    text NOT NULL CHECK (backend IN ('timescale', 'plain')),
    version    integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
