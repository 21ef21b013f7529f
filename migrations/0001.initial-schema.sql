-- The initial schema: portals and everything that belongs to one (DESIGN.md §6).
--
-- Every table but portals carries portal_id -> portals ON DELETE CASCADE, so deleting a
-- portal (uninstall, data erasure) removes all of its rows in one statement. Row-level
-- security is enabled everywhere with no policy: a role that neither owns the tables nor
-- bypasses RLS sees and changes nothing. The app connects as the owning (service) role.

CREATE TABLE portals (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id         text NOT NULL,
    client_endpoint   text NOT NULL,
    domain            text NOT NULL,
    -- Fernet tokens (touchpoints.adapters.postgres.crypto): never plaintext.
    access_token      bytea NOT NULL,
    refresh_token     bytea NOT NULL,
    application_token bytea NOT NULL,
    token_expires_at  timestamptz NOT NULL,
    status            text NOT NULL DEFAULT 'active',
    installed_by      bigint,
    scope             text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    CONSTRAINT portals_member_id_key UNIQUE (member_id),
    CONSTRAINT portals_member_id_length CHECK (char_length(member_id) BETWEEN 1 AND 255),
    CONSTRAINT portals_client_endpoint_length
        CHECK (char_length(client_endpoint) BETWEEN 1 AND 2048),
    CONSTRAINT portals_domain_length CHECK (char_length(domain) <= 255),
    CONSTRAINT portals_status_valid CHECK (status IN ('active', 'needs_reauth')),
    CONSTRAINT portals_installed_by_positive CHECK (installed_by > 0),
    CONSTRAINT portals_scope_length CHECK (char_length(scope) <= 4096)
);

CREATE TABLE settings (
    portal_id             bigint PRIMARY KEY REFERENCES portals (id) ON DELETE CASCADE,
    time_zone             text NOT NULL,
    enabled_entities      text[] NOT NULL,
    default_interval      smallint NOT NULL,
    default_interval_unit text NOT NULL,
    working_days          smallint[] NOT NULL,
    holidays              date[] NOT NULL,
    digest_hour           smallint NOT NULL,
    team_viewers          bigint[] NOT NULL,
    digest_default        boolean NOT NULL,
    updated_at            timestamptz NOT NULL,
    CONSTRAINT settings_time_zone_length CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    CONSTRAINT settings_enabled_entities_valid
        CHECK (enabled_entities <@ ARRAY['lead', 'deal', 'contact', 'company']
               AND cardinality(enabled_entities) >= 1),
    CONSTRAINT settings_default_interval_range CHECK (default_interval BETWEEN 1 AND 90),
    CONSTRAINT settings_default_interval_unit_valid
        CHECK (default_interval_unit IN ('working_days', 'days')),
    CONSTRAINT settings_working_days_valid
        CHECK (working_days <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]
               AND cardinality(working_days) >= 1),
    CONSTRAINT settings_holidays_count CHECK (cardinality(holidays) <= 366),
    CONSTRAINT settings_digest_hour_range CHECK (digest_hour BETWEEN 0 AND 23),
    CONSTRAINT settings_team_viewers_count CHECK (cardinality(team_viewers) <= 1000)
);

CREATE TABLE user_preferences (
    portal_id      bigint NOT NULL REFERENCES portals (id) ON DELETE CASCADE,
    user_id        bigint NOT NULL,
    digest_enabled boolean,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (portal_id, user_id),
    CONSTRAINT user_preferences_user_id_positive CHECK (user_id > 0)
);

CREATE TABLE touchpoints (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portal_id      bigint NOT NULL REFERENCES portals (id) ON DELETE CASCADE,
    activity_id    bigint NOT NULL,
    owner_type     text NOT NULL,
    owner_id       bigint NOT NULL,
    type           text NOT NULL,
    status         text NOT NULL DEFAULT 'open',
    deadline       timestamptz NOT NULL,
    responsible_id bigint NOT NULL,
    result_note    text,
    previous_id    bigint,
    next_id        bigint,
    created_by     bigint NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    completed_at   timestamptz,
    version        integer NOT NULL DEFAULT 1,
    -- The target of the composite chain links below: a link can only name a touch-point
    -- of the same portal.
    CONSTRAINT touchpoints_portal_id_id_key UNIQUE (portal_id, id),
    CONSTRAINT touchpoints_activity_key UNIQUE (portal_id, activity_id),
    -- A chain never forks: at most one follow-up per touch-point, one predecessor each.
    CONSTRAINT touchpoints_previous_key UNIQUE (portal_id, previous_id),
    CONSTRAINT touchpoints_next_key UNIQUE (portal_id, next_id),
    CONSTRAINT touchpoints_previous_fkey FOREIGN KEY (portal_id, previous_id)
        REFERENCES touchpoints (portal_id, id),
    CONSTRAINT touchpoints_next_fkey FOREIGN KEY (portal_id, next_id)
        REFERENCES touchpoints (portal_id, id),
    CONSTRAINT touchpoints_activity_id_positive CHECK (activity_id > 0),
    CONSTRAINT touchpoints_owner_type_valid
        CHECK (owner_type IN ('lead', 'deal', 'contact', 'company')),
    CONSTRAINT touchpoints_owner_id_positive CHECK (owner_id > 0),
    CONSTRAINT touchpoints_type_valid
        CHECK (type IN ('call', 'meeting', 'email', 'message', 'visit', 'other')),
    CONSTRAINT touchpoints_status_valid
        CHECK (status IN ('open', 'done', 'cancelled', 'orphaned')),
    CONSTRAINT touchpoints_responsible_id_positive CHECK (responsible_id > 0),
    CONSTRAINT touchpoints_created_by_positive CHECK (created_by > 0),
    CONSTRAINT touchpoints_result_note_length CHECK (char_length(result_note) <= 10000),
    CONSTRAINT touchpoints_not_own_previous CHECK (previous_id <> id),
    CONSTRAINT touchpoints_not_own_next CHECK (next_id <> id),
    CONSTRAINT touchpoints_previous_not_next CHECK (previous_id <> next_id),
    CONSTRAINT touchpoints_completed_when_done
        CHECK ((status = 'done') = (completed_at IS NOT NULL)),
    CONSTRAINT touchpoints_version_positive CHECK (version >= 1)
);

-- The board: one portal's touch-points of a status for a set of responsible users, by deadline.
CREATE INDEX touchpoints_board_idx
    ON touchpoints (portal_id, status, responsible_id, deadline);
-- The team board and the digest: every open touch-point of a portal up to a deadline.
CREATE INDEX touchpoints_open_deadline_idx
    ON touchpoints (portal_id, deadline) WHERE status = 'open';
-- The CRM card tab: every touch-point of one record.
CREATE INDEX touchpoints_owner_idx
    ON touchpoints (portal_id, owner_type, owner_id);
-- Reconciliation pages through the open touch-points of a portal in id order.
CREATE INDEX touchpoints_open_id_idx
    ON touchpoints (portal_id, id) WHERE status = 'open';

CREATE TABLE digest_log (
    portal_id  bigint NOT NULL REFERENCES portals (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL,
    local_day  date NOT NULL,
    state      text NOT NULL,
    claimed_at timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 1,
    -- One digest per (portal, user, local day): the claim's conflict target.
    PRIMARY KEY (portal_id, user_id, local_day),
    CONSTRAINT digest_log_user_id_positive CHECK (user_id > 0),
    CONSTRAINT digest_log_state_valid CHECK (state IN ('pending', 'sent', 'failed')),
    CONSTRAINT digest_log_attempts_positive CHECK (attempts >= 1)
);

CREATE TABLE feedback (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portal_id  bigint NOT NULL REFERENCES portals (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL,
    message    text NOT NULL,
    email      text,
    created_at timestamptz NOT NULL,
    CONSTRAINT feedback_user_id_positive CHECK (user_id > 0),
    CONSTRAINT feedback_message_length CHECK (char_length(message) BETWEEN 1 AND 5000),
    CONSTRAINT feedback_email_length CHECK (char_length(email) BETWEEN 3 AND 320)
);

-- Per-user rate limiting of the feedback widget and the portal's own list.
CREATE INDEX feedback_portal_user_created_idx ON feedback (portal_id, user_id, created_at);
-- The operators' `touchpoints feedback --since`.
CREATE INDEX feedback_created_idx ON feedback (created_at);

-- Deny-all row-level security: no policies, so only the owner (and superusers) see rows.
ALTER TABLE portals ENABLE ROW LEVEL SECURITY;
ALTER TABLE settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_preferences ENABLE ROW LEVEL SECURITY;
ALTER TABLE touchpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE digest_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback ENABLE ROW LEVEL SECURITY;

-- yoyo's own bookkeeping tables live in the same schema; they hold no portal data, but
-- "every table is deny-all" is easier to keep true (and to test) without exceptions.
ALTER TABLE IF EXISTS _yoyo_migration ENABLE ROW LEVEL SECURITY;
ALTER TABLE IF EXISTS _yoyo_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE IF EXISTS _yoyo_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE IF EXISTS yoyo_lock ENABLE ROW LEVEL SECURITY;
