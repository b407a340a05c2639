-- +goose Up
-- A registry's book is paged by keyset (internal/workflow/registers.go) in
-- its orders: by date (of registration, else of creation) and by due date
-- (none last). Each index is the registry, the order's key and the id, the
-- key written as the listing's statement writes it, so that a page,
-- however deep, is a range of one index and nothing is sorted.
CREATE INDEX registry_entries_book_date ON registry_entries (registry_id, (COALESCE(registered_at, created_at)), id);
CREATE INDEX registry_entries_book_due ON registry_entries (registry_id, (CASE WHEN due_date = '' THEN '9999-12-31' ELSE due_date END), id);
