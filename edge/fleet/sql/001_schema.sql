-- edge fleet schema, version 1 (docs/fleet.md explains every table).
-- Applied once by `edge fleet collect` at start, in one transaction, recorded in
-- schema_migrations. Never edit a released migration: add the next file.

CREATE TABLE sites (
    site text PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE devices (
    device text PRIMARY KEY,
    site text REFERENCES sites (site) ON DELETE SET NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz,
    status text,                    -- online / offline (retained status topic)
    status_at timestamptz,
    camera_state text,              -- telemetry camera.state
    outbox_depth integer,           -- telemetry outbox.depth
    outbox_dropped bigint,          -- sum of telemetry outbox.dropped
    soc_temp_c real,                -- telemetry soc_temp_c
    telemetry_at timestamptz,       -- telemetry time
    last_window_end timestamptz,
    windows bigint NOT NULL DEFAULT 0
);

-- One row per window. Identity: (device, epoch, seq); windows without an epoch (device
-- versions before it) have epoch '' and are told apart by window_start. window_start is in
-- the key because a partitioned table's keys must contain the partition column; a device
-- never sends one (epoch, seq) with two start times, so this is the same identity.
CREATE TABLE emotion_windows (
    device text NOT NULL,
    epoch text NOT NULL,
    seq bigint NOT NULL,
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL,
    duration_s real NOT NULL,
    faces integer NOT NULL,
    mean_faces_present real NOT NULL,
    median_dwell_s real,
    angry real, disgust real, fear real, happy real, sad real, surprise real, neutral real,
    dominant text,
    dominant_counts jsonb,
    valence real,
    confidence real,
    frames integer NOT NULL,
    suppressed boolean NOT NULL,
    partial boolean NOT NULL,
    historical boolean NOT NULL,
    camera_lost_s real,
    dp_epsilon real,
    model_detector text NOT NULL,
    model_classifier text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device, epoch, seq, window_start),
    CHECK (NOT suppressed OR (angry IS NULL AND neutral IS NULL AND valence IS NULL))
) PARTITION BY RANGE (window_start);
CREATE INDEX emotion_windows_start ON emotion_windows (window_start);

-- Windows received per (device, epoch): missing = max_seq - min_seq + 1 - windows.
CREATE TABLE device_epochs (
    device text NOT NULL,
    epoch text NOT NULL,
    first_received timestamptz NOT NULL DEFAULT now(),
    min_seq bigint NOT NULL,
    max_seq bigint NOT NULL,
    windows bigint NOT NULL,
    PRIMARY KEY (device, epoch)
);

-- Where the missing windows are (within the retained windows).
CREATE VIEW seq_gaps AS
SELECT device, epoch, seq + 1 AS first_missing, next_seq - 1 AS last_missing,
       next_seq - seq - 1 AS missing, window_end AS after_window_end
FROM (
    SELECT device, epoch, seq, window_end,
           lead(seq) OVER (PARTITION BY device, epoch ORDER BY seq) AS next_seq
    FROM emotion_windows
) AS w
WHERE next_seq > seq + 1;

-- Roll-ups, kept up to date in the transaction that inserts the windows. Shares are summed
-- weighted by face-seconds (mean_faces_present x duration_s) over PUBLISHED windows only, so
-- every share shown combines windows that each reached k faces (k-anonymity holds).
CREATE TABLE rollup_hourly (
    device text NOT NULL,
    bucket timestamptz NOT NULL,
    windows integer NOT NULL,
    suppressed_windows integer NOT NULL,
    faces bigint NOT NULL,
    frames bigint NOT NULL,
    seconds double precision NOT NULL,
    camera_lost_s double precision NOT NULL,
    weight double precision NOT NULL,
    angry_w double precision NOT NULL, disgust_w double precision NOT NULL,
    fear_w double precision NOT NULL, happy_w double precision NOT NULL,
    sad_w double precision NOT NULL, surprise_w double precision NOT NULL,
    neutral_w double precision NOT NULL, valence_w double precision NOT NULL,
    PRIMARY KEY (device, bucket)
);
CREATE TABLE rollup_daily (LIKE rollup_hourly INCLUDING ALL);

-- What could not be stored, with the reason; one row per distinct (topic, payload).
CREATE TABLE dead_letters (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic text NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL,
    size integer NOT NULL,
    digest bytea NOT NULL,
    payload_head bytea NOT NULL,    -- the first 1 KiB
    UNIQUE (topic, digest)
);
