-- Text tags: program names, recipe ids, order numbers, operator badges, fault texts. A tag's
-- `value_type` may now be `text`; its samples live in `text_samples`, which the storage layout
-- creates beside `samples` (store/layout/text_*.sql), because the layout depends on whether
-- TimescaleDB is present and is applied once per database.
ALTER TABLE tags DROP CONSTRAINT IF EXISTS tags_value_type_check;
ALTER TABLE tags ADD CONSTRAINT tags_value_type_check
    CHECK (value_type IN ('float', 'integer', 'boolean', 'text'));

-- Parts of the storage layout added after a database was created (here: text samples), each
-- applied once, in its own transaction, and recorded by name; `storage_layout` keeps recording
-- the layout itself.
CREATE TABLE storage_layout_parts (
    name       text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
