-- +goose Up
-- policy_refusal_counts: the refusals of the national-mail policy counted
-- per UTC hour (hours since 1970-01-01 UTC), who (the login, or smtp:IP
-- when nobody was logged in), domain ('' when none) and reason, so that the
-- violations summary reads a few rows a key instead of every policy.refused
-- audit event. internal/policy adds to it in the transaction that writes
-- each policy.refused event, so the counts and the events never disagree.
-- An event that counts refusals per domain ("domains") is split into a row
-- per domain and a row for the rest under domain ''.
CREATE TABLE policy_refusal_counts (
    hour   INTEGER NOT NULL,
    who    TEXT NOT NULL,
    domain TEXT NOT NULL,
    reason TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (hour, who, domain, reason)
);

-- The policy.refused events written before this table existed, counted
-- the way internal/policy counts them (Summarize): an event stands for its
-- "count" (1 when absent), by domain as its "domains" says, else under its
-- "domain"; who is its "user", else its actor.
INSERT INTO policy_refusal_counts (hour, who, domain, reason, count)
WITH refused AS (
    -- created_at is stored as Go writes a UTC time ("2026-12-07 02:50:39.009934 +0000 UTC").
    SELECT CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER) / 3600 AS hour,
           CASE WHEN json_type(details, '$.user') = 'text' AND json_extract(details, '$.user') <> ''
                THEN json_extract(details, '$.user') ELSE actor END AS who,
           CASE WHEN json_type(details, '$.reason') = 'text' THEN json_extract(details, '$.reason') ELSE '' END AS reason,
           CASE WHEN json_type(details, '$.domain') = 'text' THEN json_extract(details, '$.domain') ELSE '' END AS domain,
           CASE WHEN json_type(details, '$.count') IN ('integer', 'real') AND json_extract(details, '$.count') >= 1
                THEN CAST(json_extract(details, '$.count') AS INTEGER) ELSE 1 END AS n,
           CASE WHEN json_type(details, '$.domains') = 'object' AND json_extract(details, '$.domains') <> '{}'
                THEN json_extract(details, '$.domains') END AS domains
    FROM audit_events WHERE action = 'policy.refused'
), per_domain AS (
    SELECT e.hour, e.who, e.reason, d.key AS domain, CAST(d.value AS INTEGER) AS n
    FROM refused e, json_each(e.domains) d
    WHERE d.type IN ('integer', 'real') AND d.value >= 1
)
SELECT hour, who, domain, reason, SUM(n) FROM (
    SELECT hour, who, domain, reason, n FROM refused WHERE domains IS NULL
    UNION ALL
    SELECT hour, who, domain, reason, n FROM per_domain
    UNION ALL
    SELECT e.hour, e.who, '', e.reason,
           e.n - COALESCE((SELECT SUM(CAST(d.value AS INTEGER)) FROM json_each(e.domains) d
                           WHERE d.type IN ('integer', 'real') AND d.value >= 1), 0)
    FROM refused e WHERE e.domains IS NOT NULL
) counted
WHERE n > 0
GROUP BY hour, who, domain, reason;
