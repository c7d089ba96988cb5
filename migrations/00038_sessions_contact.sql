-- +goose Up
-- A contact's sessions by index (issue 21): seed 002's conversations started
-- by visitor_id look up the contact's latest session, and sessions had no
-- index on contact_id, so each lookup read every session of the instance.
-- A session's contact never changes, so a session's updates (one per
-- message, its updated_at) stay HOT and write no entry here.
CREATE INDEX sessions_contact ON sessions (contact_id);

-- +goose Down
DROP INDEX sessions_contact;
