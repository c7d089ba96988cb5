-- +goose Up
-- Read models of one customer across channels (issue 16), written only by
-- the crm projector (projections/crm.go).
CREATE TABLE crm_threads (
    thread_id           text PRIMARY KEY,
    instance_id         text NOT NULL,
    contact_id          text NOT NULL, -- the contact it shows under (after merges)
    original_contact_id text NOT NULL
);
CREATE INDEX crm_threads_contact ON crm_threads (contact_id);

CREATE TABLE contact_profiles (
    contact_id    text        PRIMARY KEY,
    instance_id   text        NOT NULL,
    display_name  text        NOT NULL DEFAULT '', -- what the provider called them last
    name          text        NOT NULL DEFAULT '',
    phone         text        NOT NULL DEFAULT '',
    email         text        NOT NULL DEFAULT '',
    level         text        NOT NULL DEFAULT '',
    tags          text[]      NOT NULL DEFAULT '{}',
    attributes    jsonb       NOT NULL DEFAULT '{}',
    customer_id   text,
    merged_into   text,
    unmerge_until timestamptz,
    updated_at    timestamptz NOT NULL,
    search        text GENERATED ALWAYS AS (lower(name || ' ' || display_name || ' ' || phone || ' ' || email)) STORED
);
-- One index answers "this instance's contacts whose text contains q" (btree_gin
-- lets the instance share the trigram index); tags likewise.
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX contact_profiles_search ON contact_profiles USING gin (instance_id, search gin_trgm_ops);
CREATE INDEX contact_profiles_tags ON contact_profiles USING gin (instance_id, tags);
CREATE INDEX contact_profiles_phone ON contact_profiles (instance_id, phone) WHERE phone <> '';
CREATE INDEX contact_profiles_email ON contact_profiles (instance_id, email) WHERE email <> '';
CREATE INDEX contact_profiles_recent ON contact_profiles (instance_id, updated_at DESC, contact_id);

-- Who a contact is on each provider; a merge points the merged contact's
-- identities at the contact it joined (original_contact_id remembers).
CREATE TABLE contact_identities (
    instance_id         text NOT NULL,
    provider            text NOT NULL,
    external_id         text NOT NULL,
    contact_id          text NOT NULL,
    original_contact_id text NOT NULL,
    PRIMARY KEY (instance_id, provider, external_id)
);
CREATE INDEX contact_identities_contact ON contact_identities (contact_id);

CREATE TABLE crm_customers (
    instance_id text        NOT NULL,
    customer_id text        NOT NULL,
    name        text        NOT NULL,
    phone       text        NOT NULL,
    email       text        NOT NULL,
    level       text        NOT NULL,
    tags        text[]      NOT NULL,
    contact_id  text,
    candidates  text[]      NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (instance_id, customer_id)
);

CREATE TABLE orders (
    instance_id text        NOT NULL,
    order_id    text        NOT NULL,
    customer_id text        NOT NULL,
    amount      bigint      NOT NULL,
    currency    text        NOT NULL,
    status      text        NOT NULL,
    create_time timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (instance_id, order_id)
);
CREATE INDEX orders_customer ON orders (instance_id, customer_id, create_time DESC);

CREATE TABLE tickets (
    instance_id text        NOT NULL,
    ticket_id   text        NOT NULL,
    thread_id   text,
    contact_id  text,
    customer_id text,
    title       text        NOT NULL,
    content     text        NOT NULL,
    priority    text        NOT NULL,
    category    text        NOT NULL,
    status      text        NOT NULL,
    handler     text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (instance_id, ticket_id)
);
CREATE INDEX tickets_contact ON tickets (contact_id);
CREATE INDEX tickets_thread ON tickets (thread_id);

-- +goose Down
DROP TABLE tickets;
DROP TABLE orders;
DROP TABLE crm_customers;
DROP TABLE contact_identities;
DROP TABLE contact_profiles;
DROP TABLE crm_threads;
