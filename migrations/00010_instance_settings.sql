-- +goose Up
-- Instance settings (configuration rows): a display name and a stable
-- integer organization id (seed 004's organization), and how pending
-- sessions are routed.
CREATE SEQUENCE instance_organization_ids;
ALTER TABLE instances
    ADD COLUMN name            text   NOT NULL DEFAULT '',
    ADD COLUMN organization_id bigint,
    ADD COLUMN routing         text   NOT NULL DEFAULT 'auto' CHECK (routing IN ('auto', 'manual'));
UPDATE instances SET organization_id = nextval('instance_organization_ids') WHERE organization_id IS NULL;
ALTER TABLE instances
    ALTER COLUMN organization_id SET DEFAULT nextval('instance_organization_ids'),
    ALTER COLUMN organization_id SET NOT NULL,
    ADD CONSTRAINT instances_organization_id_key UNIQUE (organization_id);
ALTER SEQUENCE instance_organization_ids OWNED BY instances.organization_id;

-- +goose Down
ALTER TABLE instances DROP COLUMN routing, DROP COLUMN organization_id, DROP COLUMN name;
